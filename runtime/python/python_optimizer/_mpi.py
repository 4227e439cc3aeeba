"""MPI ranks, for ``python_optimizer.distributed`` (which re-exports the public names).

Under ``mpirun -n N pyopt-python script.py`` every rank runs the script; these functions
let the ranks talk. MPI starts at the first call that needs it (a process no launcher
started is rank 0 of 1 and never loads MPI), once: a script that imported mpi4py keeps
its MPI, and mpi4py imported later finds it running. pyopt's messages go over its own
copy of ``MPI_COMM_WORLD``, so they never meet the program's mpi4py messages.

Objects travel pickled (protocol 5): a numpy array's memory is sent in place, as raw
bytes beside the pickle, not copied into it, and arrives as an array on the received
buffer. Every function here is collective: each rank calls it, in the same order.
"""

import functools
import operator
import os
import pickle
import struct
import sys
import threading
import traceback

from python_optimizer import _native

__all__ = ["allgather", "allreduce", "barrier", "bcast", "gather", "rank", "reduce",
           "scatter", "size"]

#: Parts of a payload start at multiples of this (numpy needs aligned data).
_ALIGN = 16
_PAD = bytes(_ALIGN)
#: Message tag of ``scatter`` (on pyopt's own communicator).
_SCATTER_TAG = 1

_world = None  # (rank, size, the process they belong to)
_world_lock = threading.Lock()


def _rank_size():
    global _world
    world = _world
    if world is None or world[2] != os.getpid():  # a forked child is no rank
        with _world_lock:
            if _world is None or _world[2] != os.getpid():
                if _native.mpi_launched() is None:
                    _world = (0, 1, os.getpid())
                else:
                    _world = (*_native.mpi_start(), os.getpid())
                    _abort_on_uncaught_exceptions()
            world = _world
    return world[:2]


def rank():
    """This process's rank (0 when no MPI launcher started it)."""
    return _rank_size()[0]


def size():
    """How many ranks the job has (1 when no MPI launcher started this process)."""
    return _rank_size()[1]


def launched_size():
    """The job's size from the launcher's environment, without starting MPI (1 when
    no launcher started this process)."""
    launched = _native.mpi_launched()
    return 1 if launched is None else launched[1]


def barrier():
    """Waits until every rank has called ``barrier``."""
    if size() > 1:
        with _span("mpi.barrier"):
            _native.mpi_barrier()


def _frame(obj):
    """``obj`` as parts to send: a prefix with the lengths, the pickle, and each
    out-of-band buffer (numpy memory, in place) at an aligned offset."""
    buffers = []
    header = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    prefix = struct.pack(f"<{len(raws) + 2}Q", len(raws), len(header),
                         *(raw.nbytes for raw in raws))
    parts = [prefix, header]
    at = len(prefix) + len(header)
    for raw in raws:
        pad = -at % _ALIGN
        if pad:
            parts.append(_PAD[:pad])
            at += pad
        parts.append(raw)
        at += raw.nbytes
    return parts


def _unframe(view):
    """The object ``_frame`` sent, rebuilt on the received bytes (a memoryview): its
    numpy arrays use that memory."""
    (count,) = struct.unpack_from("<Q", view, 0)
    lengths = struct.unpack_from(f"<{count + 1}Q", view, 8)
    at = 8 * (count + 2)
    header = view[at:at + lengths[0]]
    at += lengths[0]
    buffers = []
    for length in lengths[1:]:
        at += -at % _ALIGN
        buffers.append(view[at:at + length])
        at += length
    return pickle.loads(header, buffers=buffers)


def bcast(obj, root=0):
    """``obj`` from ``root``, on every rank (the root gets its own object back)."""
    if size() == 1:
        _check_root(root)
        return obj
    me = rank()
    with _span("mpi.bcast") as flows:
        if me == root:
            flows.send(range(size()))
            _native.mpi_bcast(_frame(obj), root)
            return obj
        received = _native.mpi_bcast(None, root)
        flows.receive([root])
        return _unframe(memoryview(received))


def _gather(obj, root):
    """Every rank's ``obj``, in rank order, at ``root`` (every rank when None)."""
    if size() == 1:
        if root is not None:
            _check_root(root)
        return [obj]
    me = rank()
    name = "mpi.gather" if root is not None else "mpi.allgather"
    with _span(name) as flows:
        flows.send(range(size()) if root is None else [root])
        received = _native.mpi_gather(_frame(obj), root)
        if received is None:
            return None
        data, places = received
        flows.receive(range(size()))
        view = memoryview(data)
        return [obj if r == me else _unframe(view[at:at + length])
                for r, (at, length) in enumerate(places)]


def gather(obj, root=0):
    """The list of every rank's ``obj`` (in rank order) at ``root``; None elsewhere."""
    return _gather(obj, root)


def allgather(obj):
    """The list of every rank's ``obj``, in rank order, on every rank."""
    return _gather(obj, None)


def scatter(objs, root=0):
    """Rank ``r`` gets ``objs[r]``; ``objs`` (one per rank) is read at ``root`` only."""
    me, n = rank(), size()
    if me == root:
        objs = list(objs)
        if len(objs) != n:
            raise ValueError(f"scatter needs one object per rank ({n}), not {len(objs)}")
    if n == 1:
        _check_root(root)
        return objs[0]
    with _span("mpi.scatter") as flows:
        if me == root:
            for r, obj in enumerate(objs):
                if r != root:
                    flows.send([r])
                    _native.mpi_send(_frame(obj), r, _SCATTER_TAG)
            return objs[root]
        received = _native.mpi_recv(root, _SCATTER_TAG)
        flows.receive([root])
        return _unframe(memoryview(received))


_OPERATORS = {"sum": operator.add, "prod": operator.mul, "max": max, "min": min}


def _operator(op):
    if callable(op):
        return op
    try:
        return _OPERATORS[str(op).lower()]
    except KeyError:
        raise ValueError(f"unknown reduction {op!r}: use a function of two values or "
                         f"one of {', '.join(_OPERATORS)}") from None


def reduce(obj, op="sum", root=0):
    """``functools.reduce(op, [every rank's obj in rank order])`` at ``root``; None
    elsewhere. ``op``: a function of two values, or "sum", "prod", "max", "min"."""
    function = _operator(op)
    values = gather(obj, root)
    return None if values is None else functools.reduce(function, values)


def allreduce(obj, op="sum"):
    """``reduce`` with the result on every rank (the same object everywhere)."""
    return bcast(reduce(obj, op, 0), 0)


def _check_root(root):
    if root != 0:
        raise ValueError(f"rank {root} is not in this job of 1 rank")


# Traces: each operation is a slice on the rank's track, and every message an arrow
# from the sender's slice to the receiver's. Both ends compute a flow's id from the
# operation's number (every rank counts the same operations) and the two ranks.

_operations = 0


def _flow_id(operation, sender, receiver):
    return (1 << 62) | ((operation & 0xFFFFFFFF) << 24) | ((sender & 0xFFF) << 12) | (
        receiver & 0xFFF)


class _Flows:
    def __init__(self, operation, name):
        self.operation = operation
        self.name = name

    def send(self, receivers):
        if self.operation is None:
            return
        from python_optimizer.profiling import get_profiler

        me = rank()
        for receiver in receivers:
            if receiver != me:
                get_profiler().flow_start(self.name, _flow_id(self.operation, me, receiver),
                                          category="mpi")

    def receive(self, senders):
        if self.operation is None:
            return
        from python_optimizer.profiling import get_profiler

        me = rank()
        for sender in senders:
            if sender != me:
                get_profiler().flow_end(self.name, _flow_id(self.operation, sender, me),
                                        category="mpi")


class _span:
    """A slice named ``name`` while tracing; yields the operation's ``_Flows``. Only
    collective operations are numbered (every rank must count the same ones)."""

    def __init__(self, name, collective=True):
        global _operations
        if collective:
            _operations += 1
        self.traced = _native.trace_enabled()
        self.flows = _Flows(_operations if self.traced and collective else None, name)
        self.name = name

    def __enter__(self):
        if self.traced:
            _native.trace_begin(self.name, "mpi", None)
        return self.flows

    def __exit__(self, *exc):
        if self.traced:
            _native.trace_end()
        return False


def _abort_on_uncaught_exceptions():
    """An exception no rank catches ends the whole job (its traceback printed, then
    ``MPI_Abort``): without it, the other ranks would wait for this one forever."""
    previous = sys.excepthook
    rank_process = os.getpid()

    def abort_job(kind, value, tb):
        try:
            previous(kind, value, tb)
        finally:
            if os.getpid() == rank_process:  # not in a process the rank forked
                _abort_after_printing(1)

    if getattr(previous, "_pyopt_aborts", False):
        return
    abort_job._pyopt_aborts = True
    sys.excepthook = abort_job


def _abort_after_printing(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if _native.mpi_active():
        print(f"pyopt-python: rank {rank()} of {size()} raised an uncaught exception; "
              f"ending the job (MPI_Abort)", file=sys.stderr, flush=True)
        _native.mpi_abort(code)


def format_exception(error):
    """``error``'s traceback as text, for the rank that re-raises it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class TaskFailed:
    """A task's exception, as it travels between ranks: the exception itself when it
    pickles, and its traceback as text."""

    def __init__(self, index, error):
        self.index = index
        self.text = format_exception(error)
        try:
            self.error = pickle.loads(pickle.dumps(error))
        except Exception:
            self.error = RuntimeError(f"{type(error).__name__}: {error} (the exception "
                                      f"could not be pickled to send to the other ranks)")


def map_chunks(function, items, chunksize, star, retries):
    """Collective ``map``: every rank takes the next chunk of ``items`` from a counter
    on rank 0 (one-sided ``MPI_Fetch_and_op``) until none is left, so uneven tasks
    balance; then every rank gets every result. Returns ``(results, stats)`` with this
    rank's share of the work; the earliest failing item's ``TaskFailed`` comes back in
    place of the results."""
    import time

    lengths = allgather(len(items))
    if len(set(lengths)) != 1:
        raise ValueError(f"map under MPI is collective: every rank passes the same "
                         f"items, but the ranks passed {lengths} items")
    chunks = -(-len(items) // chunksize)
    done, failure = [], None
    stats = {"tasks": 0, "chunks": 0, "retried_chunks": 0, "failed_tasks": 0,
             "busy_seconds": 0.0}
    counter = _native.MpiCounter()
    try:
        while failure is None:
            chunk = counter.fetch_add(1)
            if chunk >= chunks:
                break
            start = chunk * chunksize
            stats["chunks"] += 1
            for attempt in range(retries + 1):
                values, failed, busy = _run_chunk(function, items, start, chunksize, star)
                stats["busy_seconds"] += busy
                if failed is None:
                    break
                stats["failed_tasks"] += 1
                if attempt < retries:
                    stats["retried_chunks"] += 1
            done.append((start, values))
            stats["tasks"] += len(values)
            failure = failed
    finally:
        counter.free()
    everything = allgather((done, failure))
    failures = [failed for _, failed in everything if failed is not None]
    if failures:
        return min(failures, key=lambda failed: failed.index), stats
    results = [None] * len(items)
    for chunks_done, _ in everything:
        for start, values in chunks_done:
            results[start:start + len(values)] = values
    return results, stats


def _run_chunk(function, items, start, chunksize, star):
    """Runs one chunk here: ``(values, TaskFailed or None, seconds)``."""
    import time

    began = time.perf_counter()
    values = []
    with _span("mpi.chunk", collective=False):
        for index in range(start, min(start + chunksize, len(items))):
            try:
                item = items[index]
                values.append(function(*item) if star else function(item))
            except Exception as error:
                return values, TaskFailed(index, error), time.perf_counter() - began
    return values, None, time.perf_counter() - began


class MpiBackend:
    """``DistributedCoordinator``'s MPI backend: the job's ranks are its workers, and
    ``map`` is collective (see ``map_chunks``). Tasks on rank ``r`` draw from
    ``random`` and numpy streams seeded from ``(seed, r)``, kept between calls; the
    program's own streams are put back after each call."""

    def __init__(self, seed):
        self.seed = seed
        self.rank, self.size = rank(), size()
        self._streams = None

    def run(self, function, items, chunksize, star, retries):
        saved = _stream_states()
        if self._streams is None:
            from python_optimizer._workers import seed_streams

            seed_streams(self.seed, self.rank)
        else:
            _set_stream_states(self._streams)
        try:
            return map_chunks(function, items, chunksize, star, retries)
        finally:
            self._streams = _stream_states()
            _set_stream_states(saved)

    def close(self):
        """Nothing to stop: the ranks are the job's own processes."""


def _stream_states():
    import random

    numpy = sys.modules.get("numpy")
    return random.getstate(), None if numpy is None else numpy.random.get_state()


def _set_stream_states(states):
    import random

    python_state, numpy_state = states
    random.setstate(python_state)
    numpy = sys.modules.get("numpy")
    if numpy is not None and numpy_state is not None:
        numpy.random.set_state(numpy_state)
