"""pytest configuration for pyopt's end-to-end tests (helpers: pyopt_testing.py)."""

import os
import signal

import pytest

from pyopt_testing import PYOPT, PYTHON3


def pytest_report_header(config):
    return [f"pyopt-python: {PYOPT}", f"reference python3: {PYTHON3}"]


def pytest_sessionstart(session):
    # A shell starts background jobs with SIGINT ignored, and children inherit that:
    # python3 and pyopt-python would then both shrug off the Ctrl-C the signal tests
    # send. Handling it here makes every child start with the default disposition.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for label, path in (("pyopt-python", PYOPT), ("reference python3", PYTHON3)):
        if not os.access(path, os.X_OK):
            raise pytest.UsageError(
                f"{label} not found at {path}: build it (scripts/test.sh does) or set "
                "TEST_PYOPT_PYTHON / TEST_REFERENCE_PYTHON"
            )

# CPython's test modules under regrtest/ run through tests/regrtest/compare.py, not pytest.
collect_ignore = ["regrtest"]
