"""PYOPT_TRACE in processes made by fork (pyopt-python imports this at start-up when
tracing): a forked child starts its own memory sampler, and a multiprocessing worker
writes its trace when its ``Process`` ends. Such a worker leaves through ``os._exit``,
which skips the exit handler that writes traces, but it first runs multiprocessing's
finalizers (``multiprocessing.util._exit_function``); the trace is written by one of
them, registered in the child once multiprocessing has cleared the parent's. A worker
that ``Pool.terminate()`` (and so a ``with Pool`` block) ends with SIGTERM writes its
trace first and then dies of the signal, as under python3."""

import os
import signal
import sys
import threading

from python_optimizer import _native


class _Token:
    """What multiprocessing's after-fork registry keys our callback on (it holds weak
    references only; this module keeps the object alive)."""


_TOKEN = _Token()


def _write_then_die(signum, _frame):
    _native.trace_write_now()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _write_at_worker_exit(_token):
    util = sys.modules["multiprocessing.util"]
    # The lowest priority runs last, after the worker's own finalizers.
    util.Finalize(None, _native.trace_write_now, exitpriority=-(2**31))
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
        signal.signal(signal.SIGTERM, _write_then_die)


def _after_fork_in_child():
    _native.trace_start_sampler()
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        # Runs in Process._bootstrap, after the parent's finalizers are cleared.
        util.register_after_fork(_TOKEN, _write_at_worker_exit)


def install():
    os.register_at_fork(after_in_child=_after_fork_in_child)
