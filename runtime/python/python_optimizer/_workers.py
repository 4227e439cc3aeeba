"""The worker-process backend of ``python_optimizer.distributed`` (issue 8).

Tasks run in a ``concurrent.futures.ProcessPoolExecutor`` of pyopt-python processes
(started by fork on Linux, as ``multiprocessing.Pool`` does): unlike
``multiprocessing.Pool`` it notices a worker that dies, so the caller gets an error
instead of a hang. Functions travel pickled by cloudpickle (lambdas and closures too),
once per chunk of items; results come back in order. Each worker seeds ``random`` and,
when the parent had imported it, numpy's global generator from the coordinator's seed
and its own index, so workers draw independent streams.
"""

import concurrent.futures
import hashlib
import os
import random
import sys
import time

from python_optimizer import _native

try:  # functions defined in __main__, lambdas and closures need it
    import cloudpickle as _pickler
except ImportError:  # pragma: no cover - cloudpickle is a requirement
    import pickle as _pickler


class WorkerDiedError(RuntimeError):
    """A worker process ended (killed, crashed, ``os._exit``) while running tasks."""


# In a worker: its index and the functions it has unpickled, by their pickle's digest.
_worker_index = None
_functions = {}


def worker_seed(seed, index):
    """The seed of worker ``index`` for the coordinator seed ``seed`` (an int)."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _start_worker(seed, counter):
    """Runs in each new worker: takes an index and seeds the random streams."""
    global _worker_index
    with counter.get_lock():
        _worker_index = counter.value
        counter.value += 1
    own = worker_seed(seed, _worker_index)
    random.seed(own)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(own % 2**32)


def _run_chunk(pickled, digest, items, star, flow=None):
    """Runs the function on each item of a chunk; returns (results, busy seconds).
    ``flow``: (flow id, task name) when the caller is traced: the chunk is a span on
    this worker's track, where the caller's hand-off flow ends."""
    function = _functions.get(digest)
    if function is None:
        function = _functions[digest] = _pickler.loads(pickled)
    if flow is None or not _native.trace_enabled():
        return _run_items(function, items, star)
    from python_optimizer.profiling import get_profiler

    profiler = get_profiler()
    flow_id, name = flow
    with profiler.start_span(name, category="distributed", items=len(items)):
        profiler.flow_end("hand-off", flow_id, category="distributed")
        return _run_items(function, items, star)


def _run_items(function, items, star):
    started = time.perf_counter()
    if star:
        results = [function(*item) for item in items]
    else:
        results = [function(item) for item in items]
    return results, time.perf_counter() - started


def dumps(function):
    """The function pickled for the workers, and its digest."""
    try:
        pickled = _pickler.dumps(function)
    except Exception as error:
        raise TypeError(f"cannot send {function!r} to worker processes: {error}") from error
    return pickled, hashlib.blake2b(pickled, digest_size=16).hexdigest()


class ProcessBackend:
    """A pool of pyopt-python worker processes (made on first use, again after a
    worker died)."""

    name = "multiprocessing"

    def __init__(self, num_workers, seed, start_method=None):
        import multiprocessing

        self.num_workers = num_workers
        self.seed = seed
        self._context = multiprocessing.get_context(start_method)
        self._executor = None
        self._counter = None

    def _pool(self):
        if self._executor is None:
            self._counter = self._context.Value("q", 0)
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.num_workers, mp_context=self._context,
                initializer=_start_worker, initargs=(self.seed, self._counter))
        return self._executor

    def submit(self, pickled, digest, items, star, flow=None):
        return self._pool().submit(_run_chunk, pickled, digest, items, star, flow)

    def discard(self):
        """Ends the pool now (after a worker died or a timeout): its workers are killed,
        the next submit starts a new one."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        for process in list(getattr(executor, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=True, cancel_futures=True)

    def close(self):
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def default_workers():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
