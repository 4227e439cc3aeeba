"""Sharing work between processes, and the compiled code they run.

Work: ``DistributedCoordinator().map(f, items)`` runs ``f`` on every item in worker
processes and returns ``list(map(f, items))``, in order::

    from python_optimizer.distributed import DistributedCoordinator
    with DistributedCoordinator(num_workers=4) as coordinator:
        squares = coordinator.map(square, range(1000))

Backends (``BackendType``): MPI ranks (``MPI``, the default under ``mpirun`` with more
than one rank), worker processes (``MULTIPROCESSING``, the default otherwise), Dask
(``DASK``: a ``LocalCluster`` of pyopt-python workers, or ``address=``) and Ray
(``RAY``: a local instance, or ``address=``); ``check_backend_availability()`` says
which can be used here.

MPI ranks (``mpirun -n N pyopt-python script.py``; every rank runs the script):
``rank()``, ``size()``, ``barrier()``, ``bcast``, ``gather``, ``allgather``, ``scatter``,
``reduce`` and ``allreduce`` of Python objects (numpy arrays travel as raw buffers).
Without ``mpirun`` the process is rank 0 of 1. An exception no rank catches ends the
whole job with its traceback printed and a non-zero exit.

Compiled code: ``get_distributed_jit_cache()`` is the compiled-code cache that every
process (and MPI rank) pointing at one directory shares::

    cache = get_distributed_jit_cache()
    cache.path, cache.stats(), cache.entries(), cache.verify(), cache.clear()

``get_distributed_spec_cache()`` gives the warm-start records kept next to it: the
argument signatures each function was compiled for, so a later process compiles (loads
from the cache) a function the first time it sees it called.
"""

import enum
import math
import os
import queue
import threading
import time

from python_optimizer import _native
from python_optimizer._mpi import (allgather, allreduce, barrier, bcast, gather, rank,
                                   reduce, scatter, size)

__all__ = ["BackendType", "DistributedCoordinator", "DistributedGeneticOptimizer",
           "JitCache", "SpecCache",
           "WorkerDiedError", "allgather", "allreduce", "barrier", "bcast",
           "check_backend_availability", "gather", "get_backend",
           "get_distributed_jit_cache", "get_distributed_spec_cache", "rank", "reduce",
           "scatter", "set_backend", "size"]


class JitCache:
    """The compiled-code cache: object files of compiled functions, keyed by everything
    that determines their code, loaded by every process instead of compiling again.

    Its directory is ``PYOPT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pyopt`` or
    ``~/.cache/pyopt``); ``PYOPT_CACHE=0`` turns it off and ``PYOPT_CACHE_SIZE`` (MiB)
    bounds it.
    """

    @property
    def path(self):
        """The cache directory, or None when the cache is off."""
        return _native.cache_path()

    def stats(self):
        """A dict: ``path``, ``enabled``, ``problem`` (why the directory cannot be used, or
        None), ``limit_bytes``, ``entries`` and ``bytes`` in the directory, and this
        process's ``hits``, ``misses``, ``hit_rate``, ``skipped`` (damaged, foreign or
        unsafe entries passed over), ``stored``, ``load_ms`` and ``compile_ms``."""
        return _native.cache_stats()

    def entries(self):
        """Every entry, most recently used first: dicts with ``function``, ``signature``,
        ``bytes``, ``hits``, ``idle_seconds``, ``created``, ``key``, ``path`` and
        ``problem`` (None for a usable entry). Raises RuntimeError when the cache is off
        or its directory cannot be used."""
        return _native.cache_entries()

    def verify(self):
        """Checks every entry (owner, mode, format, checksum, key): a list of
        ``(path, problem)``, problem None for a good entry."""
        return _native.cache_verify()

    def clear(self):
        """Removes every entry (processes that loaded one keep running it); returns how
        many were removed."""
        return _native.cache_clear()

    def __repr__(self):
        return f"<JitCache {self.path!r}>"


def get_distributed_jit_cache():
    """The compiled-code cache this process uses."""
    return JitCache()


class SpecCache:
    """Warm-start records: for each function an earlier process compiled, the argument
    signatures it was compiled for. A function with a record is compiled the first time
    pyopt sees it called instead of after the hotness threshold (``PYOPT_JIT_THRESHOLD``),
    and its code comes from the compiled-code cache. Kept in the same directory."""

    @property
    def path(self):
        """The cache directory, or None when the cache is off."""
        return _native.cache_path()

    def stats(self):
        """A dict: ``path``, ``enabled``, ``problem``, ``functions`` and ``bytes``
        recorded in the directory, and this process's ``hits`` (functions seen for the
        first time that had a record), ``misses``, ``hit_rate`` and ``recorded``
        (signatures it added)."""
        return _native.spec_cache_stats()

    def clear(self):
        """Removes every record; returns how many functions had one."""
        return _native.spec_cache_clear()

    def __repr__(self):
        return f"<SpecCache {self.path!r}>"


def get_distributed_spec_cache():
    """The warm-start records this process uses."""
    return SpecCache()


# Work distribution (issue 8).

from python_optimizer._workers import WorkerDiedError  # noqa: E402


class BackendType(enum.Enum):
    """Where ``DistributedCoordinator`` runs tasks."""

    MULTIPROCESSING = "multiprocessing"
    MPI = "mpi"
    RAY = "ray"
    DASK = "dask"


def _unavailable_reason(backend):
    """Why ``backend`` cannot be used here, or None."""
    import importlib.util

    if backend is BackendType.MULTIPROCESSING:
        return None
    if backend is BackendType.DASK:
        missing = [m for m in ("dask", "distributed") if importlib.util.find_spec(m) is None]
        if missing:
            return (f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
                    f"installed (pip install dask distributed)")
        return None
    if backend is BackendType.RAY:
        if importlib.util.find_spec("ray") is None:
            return "ray is not installed (pip install ray)"
        return None
    if _native.mpi_launched() is None:
        return ("this process was not started by an MPI launcher (run it as "
                "`mpirun -n N pyopt-python script.py`)")
    try:
        _native.mpi_library_version()
    except RuntimeError as error:
        return str(error)
    return None


def check_backend_availability():
    """``{BackendType: bool}``: which backends this process can use."""
    return {backend: _unavailable_reason(backend) is None for backend in BackendType}


def _as_backend(backend):
    if isinstance(backend, BackendType):
        return backend
    try:
        return BackendType(str(backend).lower())
    except ValueError:
        names = ", ".join(b.value for b in BackendType)
        raise ValueError(f"unknown backend {backend!r}; known: {names}") from None


_backend = None  # chosen by set_backend; None: the default
_backend_lock = threading.Lock()


def set_backend(backend):
    """Chooses the backend new coordinators use (a ``BackendType`` or its name);
    RuntimeError, saying why, when it cannot be used here."""
    global _backend
    backend = _as_backend(backend)
    reason = _unavailable_reason(backend)
    if reason is not None:
        raise RuntimeError(f"cannot use {backend}: {reason}")
    with _backend_lock:
        _backend = backend


def get_backend():
    """The backend new coordinators use: what ``set_backend`` chose, else
    ``BackendType.MPI`` under an MPI launcher with more than one rank, else
    ``BackendType.MULTIPROCESSING``."""
    if _backend is not None:
        return _backend
    from python_optimizer._mpi import launched_size

    return BackendType.MPI if launched_size() > 1 else BackendType.MULTIPROCESSING


class DistributedCoordinator:
    """Runs a function over many items on a backend, returning what ``list(map(...))``
    would, in order.

    - ``num_workers``: worker processes (default: the CPUs this process may run on).
      Under MPI the job's ranks are the workers and this is ignored.
    - ``retries``: times a chunk of items is run again after its task raised or its
      worker died (default 0). The function must then be safe to run twice.
    - ``timeout``: seconds a ``map`` may take in all; then TimeoutError, and the
      workers still running are killed (default: no limit).
    - ``seed``: worker ``i`` seeds ``random`` (and numpy's global generator, if the
      caller imported numpy) with a value derived from ``(seed, i)``, so workers draw
      independent streams; the same seed gives each worker the same stream again.
      ``None``: a fresh seed from ``os.urandom``. Which items a worker runs depends on
      timing, so results that draw random numbers inside tasks differ between runs;
      draw them in the caller for reproducible results.
    - ``start_method``: multiprocessing's ("fork" by default on Linux, as
      ``multiprocessing.Pool``; "spawn" and "forkserver" start fresh pyopt-python
      processes).
    - ``address``: with ``BackendType.DASK``, the scheduler of an existing cluster
      (default: a ``LocalCluster`` of ``num_workers`` pyopt-python processes, made at
      the first call and closed with the coordinator). Tasks are never merged
      (``pure=False``); a task whose workers keep dying raises ``WorkerDiedError``.
      With ``BackendType.RAY``, the cluster to join (default: the Ray instance this
      process joined, else a local one with ``num_workers`` CPUs, shut down with the
      coordinator). Ray workers seed from ``(seed, their process id)``: independent
      streams, not reproducible ones.

    Under MPI (``BackendType.MPI``), ``map``, ``submit_batch`` and ``reduce`` are
    collective: every rank calls them with the same items and gets the full result.
    Each rank takes the next chunk from a counter on rank 0 (an MPI one-sided
    fetch-and-add) until none is left, so uneven tasks balance. Tasks on rank ``r`` draw
    from streams seeded from ``(seed, r)``; the program's own ``random`` and numpy
    states are put back after each call. ``retries`` runs a failing chunk again on its
    rank; ``timeout`` is refused (a rank cannot be stopped without ending the job).

    An exception in a task is raised in the caller, with the worker's traceback as its
    cause; when several items fail, the one earliest in ``items`` is raised, as
    ``list(map(...))`` would. A worker that dies raises ``WorkerDiedError`` (the
    workers are started again for the next call). Functions and items travel pickled
    (cloudpickle for functions, so lambdas and closures work).
    """

    def __init__(self, backend=None, num_workers=None, *, retries=0, timeout=None,
                 seed=None, start_method=None, address=None):
        from python_optimizer import _workers

        self.backend_type = get_backend() if backend is None else _as_backend(backend)
        reason = _unavailable_reason(self.backend_type)
        if reason is not None:
            raise RuntimeError(f"cannot use {self.backend_type}: {reason}")
        if num_workers is None:
            num_workers = _workers.default_workers()
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be a positive int, not {num_workers!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, not {retries!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        self.num_workers = num_workers
        self.retries = retries
        self.timeout = timeout
        self.seed = int.from_bytes(os.urandom(8), "little") if seed is None else int(seed)
        if self.backend_type is BackendType.MPI:
            from python_optimizer._mpi import MpiBackend

            if timeout is not None:
                raise ValueError("timeout= is not available with the MPI backend: a rank "
                                 "cannot be stopped without ending the job")
            if address is not None:
                raise ValueError("address= is for the Dask and Ray backends")
            self._backend = MpiBackend(self.seed)
            num_workers = self.num_workers = self._backend.size
        elif self.backend_type is BackendType.DASK:
            from python_optimizer._dask import DaskBackend

            self._backend = DaskBackend(num_workers, self.seed, address)
        elif self.backend_type is BackendType.RAY:
            from python_optimizer._ray import RayBackend

            self._backend = RayBackend(num_workers, self.seed, address)
        else:
            if address is not None:
                raise ValueError("address= is for the Dask and Ray backends")
            self._backend = _workers.ProcessBackend(num_workers, self.seed, start_method)
        self._stats = {"backend": self.backend_type.value, "workers": num_workers,
                       "calls": 0, "tasks": 0, "chunks": 0, "retried_chunks": 0,
                       "failed_tasks": 0, "worker_deaths": 0, "busy_seconds": 0.0,
                       "wall_seconds": 0.0}

    def map(self, function, items, chunksize=None):
        """``list(map(function, items))``, run on the workers."""
        return self._run(function, items, chunksize, star=False)

    def submit_batch(self, function, argument_tuples, chunksize=None):
        """``[function(*args) for args in argument_tuples]``, run on the workers."""
        return self._run(function, argument_tuples, chunksize, star=True)

    def reduce(self, function, items, reducer, initial=None, chunksize=None):
        """``functools.reduce(reducer, map(function, items)[, initial])``: the mapping on
        the workers, the reduction here, in item order."""
        import functools

        results = self.map(function, items, chunksize)
        if initial is None:
            if not results:
                raise TypeError("reduce() of no items with no initial value")
            return functools.reduce(reducer, results)
        return functools.reduce(reducer, results, initial)

    def get_stats(self):
        """A dict: ``backend``, ``workers``, ``calls`` (map/submit_batch/reduce),
        ``tasks`` (items run), ``chunks``, ``retried_chunks``, ``failed_tasks``,
        ``worker_deaths``, ``busy_seconds`` (time the workers spent in the function),
        ``wall_seconds`` (time callers waited) and ``utilization`` (busy over
        workers times wall)."""
        stats = dict(self._stats)
        wall = stats["wall_seconds"] * stats["workers"]
        stats["utilization"] = stats["busy_seconds"] / wall if wall else 0.0
        return stats

    def close(self):
        """Stops the workers (they are started again if the coordinator is used)."""
        self._backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _run(self, function, items, chunksize, star):
        from python_optimizer import _workers

        started = time.perf_counter()
        items = list(items)
        self._stats["calls"] += 1
        try:
            return self._run_chunks(_workers, function, items, chunksize, star)
        finally:
            self._stats["wall_seconds"] += time.perf_counter() - started

    def _run_chunks(self, workers, function, items, chunksize, star):
        if not items and self.backend_type is not BackendType.MPI:
            return []
        if chunksize is None:
            chunksize = max(1, math.ceil(len(items) / (4 * self.num_workers)))
        elif not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError(f"chunksize must be a positive int, not {chunksize!r}")
        if self.backend_type is BackendType.MPI:
            return self._run_on_ranks(function, items, chunksize, star)
        pickled, digest = workers.dumps(function)
        starts = range(0, len(items), chunksize)
        attempts = dict.fromkeys(starts, 0)
        results = [None] * len(items)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        pending = {}
        failure = None  # (start, exception) of the earliest chunk that failed for good

        traced = _native.trace_enabled()
        completed = queue.SimpleQueue()  # futures as they finish (any thread puts)
        task = f"{_name(function)} [{{}}..{{}}]"

        def submit(start):
            chunk = items[start:start + chunksize]
            flow = None
            if traced:  # a flow from this hand-off to the worker's span of the chunk
                from python_optimizer.profiling import get_profiler

                flow_id = get_profiler().flow_start("hand-off", category="distributed")
                flow = (flow_id, task.format(start, start + len(chunk) - 1))
            future = self._backend.submit(pickled, digest, chunk, star, flow)
            pending[future] = start
            future.add_done_callback(completed.put)
            self._stats["chunks"] += 1

        for start in starts:
            submit(start)
        while pending:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            # Wake up now and then to see whether a worker died.
            done = _finished(completed, _WATCH if remaining is None else min(remaining, _WATCH))
            if not done:
                self._backend.check()
                done = _finished(completed, 0)
            done = [f for f in done if f in pending]  # not ones cancelled or dropped
            if not done and deadline is not None and time.monotonic() >= deadline:
                self._backend.discard()
                raise TimeoutError(f"{len(pending)} of {len(starts)} chunks of "
                                   f"{_name(function)} were not done after {self.timeout} s "
                                   f"(their workers were stopped)")
            if not done:
                continue
            broken = []
            for future in done:
                start = pending.pop(future)
                if future.cancelled():
                    continue
                error = future.exception()
                if error is None:
                    values, busy = future.result()
                    results[start:start + len(values)] = values
                    self._stats["tasks"] += len(values)
                    self._stats["busy_seconds"] += busy
                elif isinstance(error, workers.WorkerLost):
                    broken.append((start, error))
                else:
                    self._stats["failed_tasks"] += 1
                    if attempts[start] < self.retries:
                        attempts[start] += 1
                        self._stats["retried_chunks"] += 1
                        submit(start)
                    elif failure is None or start < failure[0]:
                        failure = (start, error)
            if broken:
                # A worker died: every chunk still in the pool failed with it.
                self._stats["worker_deaths"] += 1
                broken += [(start, None) for start in pending.values()]
                pending.clear()
                self._backend.discard()
                for start, error in sorted(broken, key=lambda b: b[0]):
                    if failure is not None and start > failure[0]:
                        continue
                    if attempts[start] < self.retries:
                        attempts[start] += 1
                        self._stats["retried_chunks"] += 1
                        submit(start)
                    else:
                        first = start + 1
                        raise WorkerDiedError(
                            f"a worker process died while running {_name(function)} on "
                            f"items {first}..{min(start + chunksize, len(items))} of "
                            f"{len(items)} (killed, crashed or exited); the workers are "
                            f"started again for the next call") from error
            if failure is not None:
                # Later chunks cannot change what is raised: drop those not started.
                for future, start in list(pending.items()):
                    if start > failure[0] and future.cancel():
                        del pending[future]
        if failure is not None:
            raise failure[1]
        return results

    def _run_on_ranks(self, function, items, chunksize, star):
        from python_optimizer._mpi import TaskFailed
        from python_optimizer._workers import RemoteTraceback

        results, stats = self._backend.run(function, items, chunksize, star, self.retries)
        for key, value in stats.items():
            self._stats[key] += value
        if isinstance(results, TaskFailed):
            raise results.error from RemoteTraceback(results.text)
        return results

    def __repr__(self):
        return (f"<DistributedCoordinator {self.backend_type.value}, "
                f"{self.num_workers} workers>")


#: Seconds between looks at whether a worker died, while waiting for results.
_WATCH = 0.05


def _finished(completed, timeout):
    """The futures in ``completed``: waits up to ``timeout`` seconds for the first."""
    done = []
    try:
        done.append(completed.get(timeout=timeout) if timeout else completed.get_nowait())
        while True:
            done.append(completed.get_nowait())
    except queue.Empty:
        return done


def _name(function):
    return getattr(function, "__qualname__", None) or repr(function)


from python_optimizer.genetic import GeneticOptimizer  # noqa: E402


class DistributedGeneticOptimizer(GeneticOptimizer):
    """``genetic.GeneticOptimizer`` whose fitness evaluations run on a backend's
    workers (each generation's new individuals as one ``map``). The result for a seed
    is the same on any backend and worker count: every random draw happens here."""

    def __init__(self, parameter_ranges, population_size=50, num_workers=None,
                 backend=None, *, chunksize=None, retries=0, timeout=None, **options):
        super().__init__(parameter_ranges, population_size, **options)
        self.coordinator = DistributedCoordinator(backend, num_workers, retries=retries,
                                                  timeout=timeout, seed=self.seed)
        if self.coordinator.backend_type is BackendType.MPI and self.seed is None:
            # Every rank runs the same search: rank 0 picks the seed for all.
            self.seed = bcast(int.from_bytes(os.urandom(8), "little"))
        self.chunksize = chunksize

    def evaluate(self, fitness_function, population):
        return self.coordinator.map(fitness_function, population, self.chunksize)

    def optimize(self, fitness_function, generations=100, **options):
        try:
            return super().optimize(fitness_function, generations, **options)
        finally:
            self.coordinator.close()
