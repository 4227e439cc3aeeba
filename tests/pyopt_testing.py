"""Helpers for pyopt's end-to-end tests: run a command under python3 and pyopt-python.

The reference interpreter is the python3.11 of the same installation as the libpython
pyopt-python links (its sysconfig BINDIR), so both run the same CPython and standard
library; `TEST_REFERENCE_PYTHON` overrides it. The pyopt binary is the running
interpreter when the tests run under pyopt-python, else `TEST_PYOPT_PYTHON`, else the
release build in the checkout.
"""

import atexit
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _running_under_pyopt():
    return "python_optimizer._native" in sys.builtin_module_names


def pyopt_executable():
    if os.environ.get("TEST_PYOPT_PYTHON"):
        return os.path.abspath(os.environ["TEST_PYOPT_PYTHON"])
    if _running_under_pyopt():
        return sys.executable
    return str(ROOT / "target" / "release" / "pyopt-python")


def reference_executable():
    if os.environ.get("TEST_REFERENCE_PYTHON"):
        return os.environ["TEST_REFERENCE_PYTHON"]
    version = "%d.%d" % sys.version_info[:2]
    return os.path.join(sysconfig.get_config_var("BINDIR"), "python" + version)


# Normalized, so the path a child reports as sys.executable is the path we started.
PYOPT = os.path.normpath(pyopt_executable())
PYTHON3 = os.path.normpath(reference_executable())
PLACEHOLDER = "<PYTHON>"


@dataclasses.dataclass
class Outcome:
    stdout: str
    stderr: str
    returncode: int

    def normalized(self, executable):
        """The outcome with the executable's path replaced by a placeholder: the only
        difference allowed between the interpreters."""

        def clean(text):
            return text.replace(executable, PLACEHOLDER)

        return Outcome(clean(self.stdout), clean(self.stderr), self.returncode)


# The test session's own XDG cache home: pyopt's compiled-code cache (and any other
# tool's cache) starts empty and never touches the user's. Tests share it, so later
# tests load what earlier ones compiled, as a user's runs do.
CACHE_HOME = tempfile.mkdtemp(prefix="pyopt-tests-cache-")
atexit.register(shutil.rmtree, CACHE_HOME, True)


def clean_environment(extra=None):
    """os.environ without PYTHON* and PYOPT_* variables, with the session's cache home,
    plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "PYOPT_", "PYTEST_"))
    }
    env["XDG_CACHE_HOME"] = CACHE_HOME
    env.update(extra or {})
    return env


def run(executable, args, *, stdin=None, env=None, cwd=None, timeout=120):
    completed = subprocess.run(
        [executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        errors="replace",
        env=clean_environment(env),
        cwd=cwd,
        timeout=timeout,
    )
    return Outcome(completed.stdout, completed.stderr, completed.returncode)


def mpirun(ranks, executable, args, *, env=None, timeout=120, cwd=None):
    """Runs `executable args` as `ranks` MPI ranks under Open MPI's mpirun
    (`--oversubscribe`: more ranks than cores; allowed as root, as in CI)."""
    launcher = shutil.which("mpirun")
    if launcher is None:
        raise RuntimeError("mpirun not found: install openmpi-bin (scripts/test.sh does)")
    extra = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    extra.update(env or {})
    return run(launcher, ["-n", str(ranks), "--oversubscribe", executable, *args],
               env=extra, timeout=timeout, cwd=cwd)


def run_both(args, **kwargs):
    """Runs `args` under python3 and pyopt-python; returns both normalized outcomes."""
    reference = run(PYTHON3, args, **kwargs).normalized(PYTHON3)
    pyopt = run(PYOPT, args, **kwargs).normalized(PYOPT)
    return reference, pyopt


def assert_same(reference, pyopt):
    assert pyopt.returncode == reference.returncode, (
        f"exit status differs: python3 {reference.returncode}, pyopt {pyopt.returncode}\n"
        f"pyopt stderr:\n{pyopt.stderr}"
    )
    assert pyopt.stdout == reference.stdout, "stdout differs"
    assert pyopt.stderr == reference.stderr, "stderr differs"


def write_script(directory, name, source):
    """Writes `source` (dedented) to `directory/name`; returns the path as a string."""
    path = pathlib.Path(directory) / name
    path.write_text(textwrap.dedent(source).lstrip())
    return str(path)
