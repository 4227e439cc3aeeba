"""The worker-process backend of ``python_optimizer.distributed`` (issue 8).

Tasks run in a ``multiprocessing.Pool`` of pyopt-python processes (started by fork on
Linux unless asked otherwise) whose workers are watched: a worker that dies fails the
chunks in flight, so the caller gets an error instead of ``Pool``'s hang. Functions travel pickled by cloudpickle (lambdas and closures too),
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


class RemoteTraceback(Exception):
    """The worker-side traceback of a task's exception, set as its ``__cause__`` by
    the Dask and Ray backends (multiprocessing sets its own)."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return self.text


class WorkerDiedError(RuntimeError):
    """A worker process ended (killed, crashed, ``os._exit``) while running tasks."""


# In a worker: its index and the functions it has unpickled, by their pickle's digest.
_worker_index = None
_functions = {}


def worker_seed(seed, index):
    """The seed of worker ``index`` for the coordinator seed ``seed`` (an int)."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def seed_streams(seed, place):
    """Seeds this worker's ``random`` and, if imported, numpy's global generator for
    the coordinator seed ``seed`` and the worker's ``place`` (its index, or pid)."""
    own = worker_seed(seed, place)
    random.seed(own)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(own % 2**32)


def settles(future, settle):
    """A done-callback for another library's task that calls ``settle(task)`` to
    complete ``future``; an error in ``settle`` fails ``future``, so the caller never
    waits forever."""

    def done(task):
        if future.done():
            return
        try:
            settle(task)
        except BaseException as unexpected:
            if not future.done():
                future.set_exception(unexpected)

    return done


def _start_worker(seed, counter):
    """Runs in each new worker: takes an index and seeds the random streams."""
    global _worker_index
    with counter.get_lock():
        _worker_index = counter.value
        counter.value += 1
    seed_streams(seed, _worker_index)


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


class WorkerLost(Exception):
    """Set on the chunks a pool was running when one of its workers died."""


class ProcessBackend:
    """A ``multiprocessing.Pool`` of pyopt-python worker processes (made on first use,
    again after a worker died). ``Pool`` feeds its workers faster than
    ``ProcessPoolExecutor`` (0.36 against 1.5 µs per tiny task here) but never notices
    a worker that dies: its chunk's result would never come. So the workers the pool
    started are watched (``check``), and a death fails every chunk in flight."""

    name = "multiprocessing"

    def __init__(self, num_workers, seed, start_method=None):
        import multiprocessing

        self.num_workers = num_workers
        self.seed = seed
        self._context = multiprocessing.get_context(start_method)
        self._pool_ = None
        self._workers = []   # the processes the pool started (it replaces dead ones)
        self._in_flight = set()

    def _pool(self):
        if self._pool_ is None:
            counter = self._context.Value("q", 0)
            self._pool_ = self._context.Pool(self.num_workers, initializer=_start_worker,
                                             initargs=(self.seed, counter))
            self._workers = list(self._pool_._pool)
        return self._pool_

    def submit(self, pickled, digest, items, star, flow=None):
        future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        self._in_flight.add(future)

        def done(result):
            self._in_flight.discard(future)
            if not future.done():
                future.set_result(result)

        def failed(error):
            self._in_flight.discard(future)
            if not future.done():
                future.set_exception(error)

        self._pool().apply_async(_run_chunk, (pickled, digest, items, star, flow),
                                 callback=done, error_callback=failed)
        return future

    def check(self):
        """Fails every chunk in flight if a worker died (its result will never come);
        the pool is then ended and started again at the next submit."""
        died = [p for p in self._workers if p.exitcode is not None]
        if not died:
            return
        lost = WorkerLost(f"worker process {died[0].pid} ended with exit code "
                          f"{died[0].exitcode}")
        in_flight, self._in_flight = self._in_flight, set()
        self.discard()
        for future in in_flight:
            if not future.done():
                future.set_exception(lost)

    def discard(self):
        """Ends the pool now (after a worker died or a timeout): its workers are killed,
        the next submit starts a new one."""
        pool, self._pool_ = self._pool_, None
        self._workers = []
        if pool is not None:
            pool.terminate()
            pool.join()

    def close(self):
        pool, self._pool_ = self._pool_, None
        self._workers = []
        if pool is not None:
            pool.close()
            pool.join()


def default_workers():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
