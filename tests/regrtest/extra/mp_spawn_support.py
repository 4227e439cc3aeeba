"""CPython's multiprocessing tests with the spawn start method, in four parts.

This Python installation's `test` package ships the shared test bodies
(`test._test_multiprocessing`) but not its `test_multiprocessing_spawn` package (its
regrtest expects one), so tests/regrtest/compare.py runs the four `test_mp_spawn_*`
modules here with `-m test --testdir`. Spawned children re-run sys.executable: under
pyopt-python they are pyopt-python too.
"""

import test._test_multiprocessing


def install(namespace, **part):
    """Adds the spawn-method test cases selected by `part` to a test module's globals."""
    test._test_multiprocessing.install_tests_in_module_dict(namespace, "spawn", **part)
