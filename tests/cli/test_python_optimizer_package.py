"""The embedded python_optimizer package and pyopt's own options."""

import re
import tempfile
import textwrap

import pytest

from pyopt_testing import PYOPT, ROOT, run


def cargo_version():
    text = (ROOT / "Cargo.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def test_package_imports_with_no_files_and_no_path(tmp_path):
    code = textwrap.dedent("""
        import sys
        import python_optimizer, python_optimizer._native as native
        print(python_optimizer.__version__)
        print("python_optimizer._native" in sys.builtin_module_names)
        print(hasattr(python_optimizer, "__file__"), python_optimizer.__spec__.origin)
        print(native.__name__, native.__version__ == python_optimizer.__version__)
    """)
    # -I: no PYTHONPATH, no user site, no script directory; -S: no site-packages at all.
    done = run(PYOPT, ["-I", "-S", "-c", code], cwd=tmp_path, env={"PYTHONPATH": "/nowhere"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        cargo_version(),
        "True",
        "False <pyopt-python>/python_optimizer/__init__.py",
        "python_optimizer._native True",
    ]


def test_embedded_source_is_available_to_inspect_and_tracebacks():
    code = textwrap.dedent("""
        import inspect, traceback, python_optimizer
        print(inspect.getsource(python_optimizer.config).splitlines()[0])
        try:
            python_optimizer.config(1)
        except TypeError:
            print(traceback.format_exc().splitlines()[-1])
    """)
    done = run(PYOPT, ["-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "def config():",
        "TypeError: config() takes 0 positional arguments but 1 was given",
    ]


def test_unknown_submodule_is_a_clean_import_error():
    done = run(PYOPT, ["-c", "import python_optimizer.no_such_part"])
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "ModuleNotFoundError: No module named 'python_optimizer.no_such_part'")


def test_loader_methods_raise_import_error_for_names_it_does_not_embed():
    code = textwrap.dedent("""
        import python_optimizer
        loader = python_optimizer.__spec__.loader
        print(loader.is_package("python_optimizer"), loader.find_spec("json"))
        for name in ("json", "python_optimizer.x\\udcff"):
            for method in (loader.is_package, loader.get_source, loader.get_code):
                try:
                    method(name)
                except ImportError as exc:
                    print(type(exc).__name__, end=" ")
        print()
    """)
    done = run(PYOPT, ["-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True None\n" + "ImportError " * 6 + "\n"


def test_run_as_module_prints_info():
    done = run(PYOPT, ["-m", "python_optimizer", "info"], env={"PYOPT_JIT": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"pyopt {cargo_version()} (")
    assert re.search(r"^  jit +\= False +\(environment", done.stdout, re.M), done.stdout
    bad = run(PYOPT, ["-m", "python_optimizer", "frobnicate"])
    assert bad.returncode == 2 and "invalid choice: 'frobnicate'" in bad.stderr


CONFIG = "import python_optimizer as p; print(sorted(p.config().items()))"


def config_of(args=(), env=None):
    # In a scratch directory: an option like pyopt.trace=t.pftrace writes a file there.
    with tempfile.TemporaryDirectory() as scratch:
        done = run(PYOPT, [*args, "-c", CONFIG], env=env, cwd=scratch)
    assert done.returncode == 0, done.stderr
    return dict(eval(done.stdout))


def test_defaults():
    assert config_of() == {
        "cache": True, "cache_dir": None, "cache_size": 1024, "jit": True, "jit_background": True, "jit_dump": None,
        "jit_fastmath": False,
        "jit_log": False,
        "jit_threshold": 1000,
        "trace": None,
        "trace_buffer": 0,
        "trace_calls": False,
    }


def test_environment_and_flags_with_flags_winning():
    env = {"PYOPT_JIT": "off", "PYOPT_JIT_THRESHOLD": "5", "PYOPT_CACHE_DIR": "/tmp/c"}
    config = config_of(["-X", "pyopt.jit_threshold=0", "-X", "pyopt.trace=t.pftrace"], env)
    assert config["jit"] is False
    assert config["jit_threshold"] == 0
    assert config["cache_dir"] == "/tmp/c"
    assert config["trace"] == "t.pftrace"


@pytest.mark.parametrize("flag", ["-E", "-I"])
def test_ignore_environment_flags_also_ignore_pyopt_variables(flag):
    assert config_of([flag], {"PYOPT_JIT": "0", "PYOPT_BOGUS": "1"})["jit"] is True


def test_options_reach_spawned_children(tmp_path):
    script = tmp_path / "spawner.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp, python_optimizer
        def child_config(_):
            import python_optimizer
            return python_optimizer.config()["jit_threshold"]
        if __name__ == "__main__":
            with mp.get_context("spawn").Pool(1) as pool:
                print(pool.map(child_config, [0]))
    """))
    done = run(PYOPT, ["-X", "pyopt.jit_threshold=3", str(script)], timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[3]\n"


@pytest.mark.parametrize("args, env, expected", [
    ([], {"PYOPT_JITT": "1"}, "unknown pyopt option PYOPT_JITT (environment variable); "
                              "known: PYOPT_JIT, "),
    (["-X", "pyopt.tracefile=x"], {}, "unknown pyopt option -X pyopt.tracefile; known: "),
    ([], {"PYOPT_JIT": "maybe"}, 'invalid value "maybe" for PYOPT_JIT (environment variable);'
                                 " expected one of 1, 0, true, false, yes, no, on, off"),
    (["-X", "pyopt.jit_threshold=-3"], {}, 'invalid value "-3" for -X pyopt.jit_threshold; '
                                           "expected a whole number from 0 to 1000000000"),
    (["-X", "pyopt.cache_dir"], {}, "-X pyopt.cache_dir needs a value"),
])
def test_bad_options_exit_2_naming_the_option(args, env, expected):
    done = run(PYOPT, [*args, "-c", "print('must not run')"], env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("pyopt-python: " + expected), done.stderr
    assert "pyopt-python -X pyopt.help" in done.stderr


def test_help_lists_every_option():
    done = run(PYOPT, ["-X", "pyopt.help"])
    assert done.returncode == 0
    for name in ("PYOPT_JIT ", "PYOPT_JIT_THRESHOLD", "PYOPT_CACHE ", "PYOPT_CACHE_DIR",
                 "PYOPT_TRACE", "-X pyopt.jit ", "-X pyopt.trace"):
        assert name in done.stdout
