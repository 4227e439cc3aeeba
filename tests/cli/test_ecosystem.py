"""The Python ecosystem inside pyopt-python: C extensions, multiprocessing, subprocesses,
virtual environments, pip and pytest."""

import os
import re
import subprocess
import textwrap

import pytest

from pyopt_testing import PYOPT, PYTHON3, assert_same, clean_environment, run, run_both


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_numpy_imports_and_computes_like_python3(tmp_path):
    script = write(tmp_path / "np_work.py", """
        import numpy as np
        rng = np.random.default_rng(1234)
        a = rng.standard_normal((50, 50))
        print(np.__version__, a.dtype, a.shape)
        print(repr(a.sum()), repr(np.linalg.det(a)), repr(np.fft.fft(a[0])[:3]))
        print(np.sort(rng.integers(0, 100, 10)))
        print((a @ a.T).trace().hex() if hasattr(float, "hex") else None)
        np.seterr(all="raise")
        try:
            np.float64(1.0) / np.float64(0.0)
        except FloatingPointError as exc:
            print("raised", exc)
    """)
    assert_same(*run_both([str(script)], cwd=tmp_path))


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_start_methods(tmp_path, method):
    script = write(tmp_path / "pool.py", """
        import multiprocessing as mp
        import sys

        def work(x):
            return x * x, sys.executable

        if __name__ == "__main__":
            ctx = mp.get_context(sys.argv[1])
            with ctx.Pool(2) as pool:
                results = pool.map(work, range(20))
            print(sum(r for r, _ in results))
            print(sorted({exe == sys.executable for _, exe in results}))
            process = ctx.Process(target=work, args=(3,))
            process.start()
            process.join()
            print("exitcode", process.exitcode)
    """)
    reference, pyopt = run_both([str(script), method], cwd=tmp_path)
    assert pyopt.stdout.splitlines()[1] == "[True]", "children must run pyopt-python"
    assert_same(reference, pyopt)


def test_subprocess_children_run_pyopt(tmp_path):
    script = write(tmp_path / "child.py", """
        import subprocess, sys
        out = subprocess.run([sys.executable, "-c",
                              "import python_optimizer, sys; print(sys.executable)"],
                             capture_output=True, text=True, check=True).stdout.strip()
        print(out == sys.executable)
    """)
    assert run(PYOPT, [str(script)], cwd=tmp_path).stdout == "True\n"


@pytest.mark.slow
def test_venv_created_by_pyopt_runs_pyopt_with_its_own_pip(tmp_path):
    venv = tmp_path / "venv"
    created = run(PYOPT, ["-m", "venv", str(venv)], timeout=300)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    assert os.path.realpath(python) == os.path.realpath(PYOPT)
    probe = run(str(python), ["-c", textwrap.dedent("""
        import sys, sysconfig, python_optimizer
        print(sys.prefix)
        print(sysconfig.get_paths()["purelib"] in sys.path)
        print(sys.base_prefix != sys.prefix)
    """)])
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [str(venv), "True", "True"]
    pip = run(str(python), ["-m", "pip", "--version"])
    assert pip.returncode == 0, pip.stderr
    assert str(venv / "lib") in pip.stdout


@pytest.mark.parametrize("how", ["symlink", "copy"])
def test_pyopt_placed_in_a_python3_venv_uses_its_site_packages(tmp_path, how):
    venv = tmp_path / "venv"
    created = run(PYTHON3, ["-m", "venv", "--without-pip", str(venv)], timeout=300)
    assert created.returncode == 0, created.stderr
    purelib = run(str(venv / "bin" / "python"), ["-c",
                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    write(tmp_path / "venv" / purelib / "only_in_this_venv.py", "WHERE = 'venv'\n")
    placed = venv / "bin" / "pyopt-python"
    if how == "symlink":
        placed.symlink_to(PYOPT)
    else:
        placed.write_bytes(open(PYOPT, "rb").read())
        placed.chmod(0o755)
    code = ("import sys, only_in_this_venv; "
            "print(sys.prefix, sys.base_prefix, only_in_this_venv.WHERE)")
    reference = run(str(venv / "bin" / "python"), ["-c", code])
    pyopt = run(str(placed), ["-c", code])
    assert pyopt.returncode == 0, pyopt.stderr
    assert pyopt.stdout == reference.stdout
    assert pyopt.stdout.split()[0] == str(venv)


def test_pytest_runs_inside_pyopt(tmp_path):
    write(tmp_path / "test_sample.py", """
        import sys
        def test_passes():
            assert sum(range(10)) == 45
        def test_fails():
            assert [1, 2] == [1, 3]
    """)
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sample.py"]
    reference, pyopt = run_both(args, cwd=tmp_path)
    timing = re.compile(r" in \d+\.\d+s")
    reference.stdout = timing.sub(" in <T>s", reference.stdout)
    pyopt.stdout = timing.sub(" in <T>s", pyopt.stdout)
    assert "1 failed, 1 passed" in pyopt.stdout
    assert_same(reference, pyopt)


def test_runs_from_any_directory_without_ld_library_path(tmp_path):
    env = clean_environment()
    env.pop("LD_LIBRARY_PATH", None)
    done = subprocess.run([PYOPT, "-c", "import sys; print(sys.version_info[:2])"],
                          cwd="/", env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "(3, 11)\n"
