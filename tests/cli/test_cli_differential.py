"""pyopt-python must behave exactly like python3 on the command line.

Every case runs under both interpreters in the same directory with the same input and
environment; stdout, stderr and the exit status must be identical once the executable's
path is replaced by a placeholder.
"""

import textwrap

import pytest

from pyopt_testing import assert_same, run_both

SHOW_ARGS = "import sys; print(sys.argv); print(sys.orig_argv[1:]); print(sys.executable)"

SCRIPT_FILES = {
    "show.py": """
        import sys
        print("name", __name__, "file", __file__)
        print("argv", sys.argv)
        print("orig_argv", sys.orig_argv)
        print("executable", sys.executable)
        print("path0", sys.path[0])
        print("prefix", sys.prefix, sys.base_prefix, sys.exec_prefix)
        print("flags", sys.flags)
    """,
    "raises.py": """
        def inner(x):
            return 1 / x

        def outer():
            try:
                inner(0)
            except ZeroDivisionError as exc:
                raise ValueError("bad value") from exc

        outer()
    """,
    "syntax_error.py": """
        def f(:
            pass
    """,
    "exit_code.py": """
        import sys
        sys.exit(int(sys.argv[1]) if sys.argv[1].lstrip("-").isdigit() else sys.argv[1])
    """,
    "keyboard_interrupt.py": """
        def spin():
            raise KeyboardInterrupt

        print("before", flush=True)
        spin()
    """,
    "self_signal.py": """
        import os, signal, sys
        print("before", flush=True)
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        print("not reached")
    """,
    "recursion.py": """
        def down(n):
            return down(n + 1)
        down(0)
    """,
    "warns.py": """
        import warnings
        warnings.warn("careful", UserWarning)
        print("after warning")
    """,
    "stdin_reader.py": """
        import sys
        data = sys.stdin.read()
        print(len(data), data.upper())
    """,
    "docstrings.py": '''
        def f():
            "the docstring"
            assert False, "assertion ran"
        print(__debug__, f.__doc__)
        try:
            f()
        except AssertionError as exc:
            print("assert:", exc)
    ''',
    "os_exit.py": """
        import os
        print("flushed", flush=True)
        os._exit(7)
    """,
    "unicode_out.py": """
        print("caf\\u00e9 \\u2603 \\U0001f600")
    """,
    "bytes_warning.py": """
        print(b"a" == "a")
    """,
    "subprocess_child.py": """
        import subprocess, sys
        done = subprocess.run([sys.executable, "-c", "import sys; print(sys.executable)"],
                              capture_output=True, text=True, check=True)
        print(done.stdout.strip() == sys.executable, done.returncode)
        print(subprocess.run([sys.executable, "-c", "raise SystemExit(5)"]).returncode)
    """,
    "mod_a.py": """
        import sys
        print("mod_a as", __name__, sys.argv)
    """,
    "pkg/__init__.py": """
        print("pkg init")
    """,
    "pkg/__main__.py": """
        import sys
        print("pkg main", __name__, __package__, sys.argv)
    """,
    "appdir/__main__.py": """
        import sys
        print("directory main", sys.argv[0], sys.path[0])
    """,
    "with_shebang_junk.py": """
        this first line is skipped by -x
        print("second line ran")
    """,
    "startup.py": """
        print("startup file ran")
        STARTUP_VALUE = 42
    """,
    "uses_pythonpath.py": """
        import helper_on_path
        print(helper_on_path.VALUE)
    """,
    "libdir/helper_on_path.py": """
        VALUE = "found via PYTHONPATH"
    """,
}

# (id, args, stdin, extra environment)
CASES = [
    ("script-args", ["show.py", "a", "-b", "--c"], None, {}),
    ("script-relative-dir", ["./show.py"], None, {}),
    ("command", ["-c", SHOW_ARGS, "x", "-y"], None, {}),
    ("command-then-dashes", ["-c", SHOW_ARGS, "--", "z"], None, {}),
    ("module", ["-m", "mod_a", "one", "two"], None, {}),
    ("module-package-main", ["-m", "pkg", "arg"], None, {}),
    ("module-stdlib-json-tool", ["-m", "json.tool"], '{"b": [1, 2], "a": null}', {}),
    ("module-missing", ["-m", "no_such_module_here"], None, {}),
    ("import-undecodable-name", ["-c", "__import__('mod_\\udcff')"], None, {}),
    ("directory-with-main", ["appdir", "q"], None, {}),
    ("stdin-script-implicit", [], "import sys\nprint('from stdin', sys.argv)\n", {}),
    ("stdin-script-dash", ["-", "p", "q"], "import sys\nprint(sys.argv)\n", {}),
    ("stdin-data-to-script", ["stdin_reader.py"], "hello\nworld\n", {}),
    ("interactive-after-command", ["-i", "-c", "x = 21"], "print(x * 2)\n", {}),
    ("interactive-after-script", ["-i", "mod_a.py"], "print(__name__)\n", {}),
    ("interactive-quiet", ["-q", "-i"], "print('quiet')\n1 + 1\n", {}),
    ("version-short", ["-V"], None, {}),
    ("version-long", ["--version"], None, {}),
    ("version-verbose", ["-VV"], None, {}),
    ("help-short", ["-h"], None, {}),
    ("help-long", ["--help"], None, {}),
    ("help-env", ["--help-env"], None, {}),
    ("help-xoptions", ["--help-xoptions"], None, {}),
    ("help-all", ["--help-all"], None, {}),
    ("optimize-O", ["-O", "docstrings.py"], None, {}),
    ("optimize-OO", ["-OO", "docstrings.py"], None, {}),
    ("isolated", ["-I", "show.py"], None, {"PYTHONPATH": "libdir"}),
    ("unbuffered", ["-u", "-c", "import sys; print(sys.stdout.write_through, sys.flags)"],
     None, {}),
    ("xoption-dev", ["-X", "dev", "-c", "import sys; print(sys.flags.dev_mode, sys._xoptions)"],
     None, {}),
    ("xoption-utf8", ["-X", "utf8", "-c", "import sys; print(sys.flags.utf8_mode)"], None, {}),
    ("xoption-int-digits", ["-X", "int_max_str_digits=700", "-c",
                            "import sys; print(sys.flags.int_max_str_digits); str(10**800)"],
     None, {}),
    ("xoption-frozen-off", ["-X", "frozen_modules=off", "-c", "import os; print(os.sep)"],
     None, {}),
    ("xoption-warn-default-encoding", ["-X", "warn_default_encoding", "-c",
                                       "import sys; print(sys.flags.warn_default_encoding); "
                                       "open('show.py').close()"],
     None, {}),
    ("env-warn-default-encoding", ["-c", "import sys; print(sys.flags.warn_default_encoding); "
                                   "open('show.py').close()"],
     None, {"PYTHONWARNDEFAULTENCODING": "1"}),
    ("warning-error", ["-W", "error", "warns.py"], None, {}),
    ("warning-ignore", ["-W", "ignore", "warns.py"], None, {}),
    ("warning-default", ["warns.py"], None, {}),
    ("warning-bad-category", ["-W", "error::NoSuchWarning", "-c", "print('ran')"], None, {}),
    ("ignore-environment", ["-E", "uses_pythonpath.py"], None, {"PYTHONPATH": "libdir"}),
    ("pythonpath", ["uses_pythonpath.py"], None, {"PYTHONPATH": "libdir"}),
    ("no-user-site", ["-s", "-c", "import sys, site; print(sys.flags.no_user_site, "
                      "site.ENABLE_USER_SITE)"], None, {}),
    ("no-site", ["-S", "-c", "import sys; print('site' in sys.modules, sys.path)"], None, {}),
    ("no-bytecode", ["-B", "-c", "import sys; print(sys.dont_write_bytecode)"], None, {}),
    ("safe-path", ["-P", "show.py"], None, {}),
    ("skip-first-line", ["-x", "with_shebang_junk.py"], None, {}),
    ("bytes-warning", ["-b", "bytes_warning.py"], None, {}),
    ("bytes-error", ["-bb", "bytes_warning.py"], None, {}),
    ("hash-seed", ["-c", "print(hash('pyopt'))"], None, {"PYTHONHASHSEED": "123"}),
    ("startup-file", ["-i"], "print(STARTUP_VALUE)\n",
     {"PYTHONSTARTUP": "startup.py"}),
    ("unicode-output-utf8", ["unicode_out.py"], None, {"PYTHONIOENCODING": "utf-8"}),
    ("unicode-output-ascii", ["unicode_out.py"], None, {"PYTHONIOENCODING": "ascii"}),
    ("c-locale", ["-c", "import sys; print(sys.getfilesystemencoding(), sys.flags.utf8_mode)"],
     None, {"LC_ALL": "C"}),
    ("invalid-short-option", ["-Z"], None, {}),
    ("invalid-long-option", ["--no-such-option"], None, {}),
    ("missing-x-argument", ["-X"], None, {}),
    ("missing-c-argument", ["-c"], None, {}),
    ("missing-script", ["does_not_exist.py", "arg"], None, {}),
    ("uncaught-exception", ["raises.py"], None, {}),
    ("syntax-error", ["syntax_error.py"], None, {}),
    ("recursion-error", ["recursion.py"], None, {}),
    ("command-exception", ["-c", "import json; json.loads('{bad')"], None, {}),
    ("system-exit-3", ["exit_code.py", "3"], None, {}),
    ("system-exit-message", ["exit_code.py", "goodbye"], None, {}),
    ("system-exit-negative", ["exit_code.py", "-1"], None, {}),
    ("system-exit-none", ["-c", "raise SystemExit(None)"], None, {}),
    ("system-exit-256", ["exit_code.py", "256"], None, {}),
    ("os-exit", ["os_exit.py"], None, {}),
    ("keyboard-interrupt-raised", ["keyboard_interrupt.py"], None, {}),
    ("sigint-self", ["self_signal.py", "SIGINT"], None, {}),
    ("sigterm-self", ["self_signal.py", "SIGTERM"], None, {}),
    ("subprocess-sys-executable", ["subprocess_child.py"], None, {}),
    ("pip-version", ["-m", "pip", "--version"], None, {}),
    ("pytest-version", ["-m", "pytest", "--version"], None, {}),
    ("sys-paths-and-prefixes", ["-c", "import sys, sysconfig; print(sys.path); "
                                "print(sys.prefix, sys.base_prefix, sys.exec_prefix, "
                                "sys.base_exec_prefix, sys.platlibdir); "
                                "print(sysconfig.get_paths())"], None, {}),
]


@pytest.fixture
def scripts(tmp_path):
    for name, text in SCRIPT_FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return tmp_path


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    "args, stdin, env", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_same_as_python3(scripts, args, stdin, env):
    reference, pyopt = run_both(args, stdin=stdin, env=env, cwd=scripts)
    assert_same(reference, pyopt)
