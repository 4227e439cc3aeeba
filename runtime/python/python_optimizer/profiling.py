"""Profiling: your own spans, instants and counters, recorded next to what the JIT and
the compiled-code cache do, and exported for ui.perfetto.dev, chrome://tracing,
flamegraph tools or your own scripts.

    from python_optimizer.profiling import get_profiler

    profiler = get_profiler()
    with profiler.start_span("load", category="io", path=path):
        ...

    @profiler.start_span("step")
    def step(): ...

    profiler.export_perfetto_trace("run.pftrace")
    profiler.print_summary()

Events go to the same per-thread recorder as ``PYOPT_TRACE`` (native rings, no lock on
the recording path); spans nest per thread and each thread has its own track. A span's
keyword arguments are kept as its annotation (JSON). The recorder starts when the first
profiler is made (or at start-up with ``PYOPT_TRACE``) and keeps the newest events when a
thread's ring is full (``dropped`` in the exports). Flows (``flow_start``/``flow_end``)
link events across threads and processes. ``PerformanceProfiler`` keeps the older
python-optimizer's per-function call counts and times.
"""

import dataclasses
import functools
import json
import threading
import time

from python_optimizer import _native

__all__ = ["AdvancedProfiler", "PerformanceProfiler", "ProfilerConfig", "clear_performance_stats",
           "get_performance_stats", "get_profiler"]

_names = threading.local()


def _name_thread():
    """Gives the calling thread's track its Python name (once per thread)."""
    if getattr(_names, "done", False):
        return
    thread = threading.current_thread()
    _native.trace_set_thread_name("main" if thread is threading.main_thread() else thread.name)
    _names.done = True


def _args_text(args):
    return json.dumps(args, default=repr, sort_keys=True) if args else None


class _Span:
    """A span: a context manager, or a decorator spanning each call."""

    __slots__ = ("name", "category", "args")

    def __init__(self, name, category, args):
        self.name, self.category, self.args = name, category, args

    def __enter__(self):
        _name_thread()
        _native.trace_begin(self.name, self.category, _args_text(self.args))
        return self

    def __exit__(self, *exc):
        _native.trace_end()
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def spanned(*args, **kwargs):
            with _Span(self.name, self.category, self.args):
                return function(*args, **kwargs)

        return spanned


def _threads():
    """Each thread's completed slices, instants and counters, from the recorder."""
    threads = []
    for thread in _native.trace_events():
        slices, instants, counters, flows, open_slices = [], [], [], [], []
        events = thread["events"]
        last = events[-1][0] if events else 0
        for ns, kind, category, name, value in events:
            if kind == "B":
                open_slices.append((ns, category, name, value, len(open_slices)))
            elif kind == "E":
                if open_slices:  # an end whose begin the ring dropped is skipped
                    start, category, name, value, depth = open_slices.pop()
                    slices.append((start, ns, category, name, value, depth))
            elif kind == "i":
                instants.append((ns, category, name, value))
            elif kind in ("s", "f"):  # a flow's start or end; the value is its id
                flows.append((ns, kind, category, name, value))
            else:
                counters.append((ns, name, value))
        while open_slices:  # still open: closed at the thread's last event
            start, category, name, value, depth = open_slices.pop()
            slices.append((start, last, category, name, value, depth))
        slices.sort()
        threads.append({"tid": thread["tid"], "name": thread["name"] or f"thread {thread['tid']}",
                        "dropped": thread["dropped"], "slices": slices,
                        "instants": instants, "counters": counters, "flows": flows})
    return threads


def _self_times(slices):
    """{index: self time in ns} for one thread's slices (sorted by start): a slice's
    duration minus that of its direct children."""
    self_ns = {}
    stack = []  # indexes of the enclosing slices
    for index, (start, end, _category, _name, _value, depth) in enumerate(slices):
        while stack and len(stack) > depth:
            stack.pop()
        self_ns[index] = end - start
        if stack:
            self_ns[stack[-1]] -= end - start
        stack.append(index)
    return self_ns


class AdvancedProfiler:
    """The process-wide profiler (``get_profiler()``)."""

    def __init__(self):
        _native.trace_start()

    def start_span(self, name, category="user", **args):
        """A span named ``name``: ``with profiler.start_span(...)`` or as a decorator."""
        return _Span(str(name), str(category), args)

    def instant(self, name, category="user", **args):
        """A point in time on the calling thread's track."""
        _name_thread()
        _native.trace_instant(str(name), str(category), _args_text(args))

    def counter(self, name, value):
        """A counter's new value, on its own track."""
        _native.trace_counter(str(name), float(value))

    def new_flow_id(self):
        """An id for a flow no other process of this machine uses (this process's id
        in the high bits): send it along with a message or a task, so the receiver can
        end the flow that the sender started."""
        global _flows
        with _lock:
            _flows += 1
            return (_pid() << 32) | _flows

    def flow_start(self, name, flow_id=None, category="flow"):
        """Starts a flow (an arrow in ui.perfetto.dev from here to where
        ``flow_end(flow_id)`` is called, in this process or another); returns its id."""
        flow_id = self.new_flow_id() if flow_id is None else int(flow_id)
        _name_thread()
        _native.trace_flow(str(name), str(category), flow_id, False)
        return flow_id

    def flow_end(self, name, flow_id, category="flow"):
        """Ends the flow ``flow_id`` here."""
        _name_thread()
        _native.trace_flow(str(name), str(category), int(flow_id), True)

    def set_process_name(self, name):
        """Names this process's track (a rank's or a worker's, say)."""
        _native.trace_set_process_name(str(name))

    def export_perfetto_trace(self, path):
        """Everything recorded so far (the JIT's and cache's events too) as a Perfetto
        protobuf trace, for ui.perfetto.dev."""
        _native.trace_write_perfetto(str(path))

    def export_chrome_trace(self, path):
        """Trace-event JSON (chrome://tracing, ui.perfetto.dev): complete events ("X")
        with start timestamps and durations in microseconds, nested per thread."""
        events = []
        pid = _pid()
        for thread in _threads():
            tid = thread["tid"]
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                           "args": {"name": thread["name"]}})
            for start, end, category, name, value, _depth in thread["slices"]:
                event = {"ph": "X", "name": name, "cat": category, "pid": pid, "tid": tid,
                         "ts": start / 1e3, "dur": (end - start) / 1e3}
                if value is not None:
                    event["args"] = {"args": value}
                events.append(event)
            for ns, category, name, value in thread["instants"]:
                event = {"ph": "i", "s": "t", "name": name, "cat": category, "pid": pid,
                         "tid": tid, "ts": ns / 1e3}
                if value is not None:
                    event["args"] = {"args": value}
                events.append(event)
            for ns, name, value in thread["counters"]:
                events.append({"ph": "C", "name": name, "pid": pid, "tid": tid,
                               "ts": ns / 1e3, "args": {name: value}})
            for ns, kind, category, name, flow_id in thread["flows"]:
                event = {"ph": kind, "id": flow_id, "name": name, "cat": category,
                         "pid": pid, "tid": tid, "ts": ns / 1e3}
                if kind == "f":
                    event["bp"] = "e"  # binds to the enclosing slice
                events.append(event)
        with open(path, "w") as out:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, out)

    def export_flamegraph_data(self, path):
        """Folded stacks, one line per distinct stack: ``thread;outer;inner <µs>`` with
        each frame's self time (what flamegraph.pl and inferno read)."""
        with open(path, "w") as out:
            out.write(self._folded())

    def export_flamegraph_svg(self, path, title="pyopt spans"):
        """The folded stacks drawn as a flame graph (SVG, by inferno)."""
        with open(path, "w") as out:
            out.write(_native.flamegraph_svg(self._folded(), title))

    def _folded(self):
        totals = {}
        for thread in _threads():
            slices = thread["slices"]
            self_ns = _self_times(slices)
            stack = []
            for index, (_start, _end, _category, name, _value, depth) in enumerate(slices):
                del stack[depth:]
                stack.append(name)
                key = ";".join([thread["name"], *stack])
                totals[key] = totals.get(key, 0) + self_ns[index]
        return "".join(f"{key} {round(ns / 1e3)}\n" for key, ns in sorted(totals.items()))

    def export_timeline_data(self, path):
        """JSON: per thread, its slices (name, category, start and duration in µs from
        the first event, depth, annotation), instants and counters."""
        threads = _threads()
        starts = [s[0] for t in threads for s in t["slices"]] + \
                 [i[0] for t in threads for i in t["instants"]]
        origin = min(starts, default=0)
        timeline = [{
            "thread": t["name"], "tid": t["tid"], "dropped": t["dropped"],
            "slices": [{"name": n, "category": c, "start_us": (s - origin) / 1e3,
                        "duration_us": (e - s) / 1e3, "depth": d, "args": v}
                       for s, e, c, n, v, d in t["slices"]],
            "instants": [{"name": n, "category": c, "at_us": (s - origin) / 1e3, "args": v}
                         for s, c, n, v in t["instants"]],
            "counters": [{"name": n, "at_us": (s - origin) / 1e3, "value": v}
                         for s, n, v in t["counters"]],
            "flows": [{"name": n, "category": c, "at_us": (s - origin) / 1e3, "id": v,
                       "end": k == "f"} for s, k, c, n, v in t["flows"]],
        } for t in threads]
        with open(path, "w") as out:
            json.dump({"threads": timeline}, out, indent=1)

    def summary(self):
        """A dict: events, threads, duration_ms, and per category its total and self
        time in ms (nested spans are not counted twice in self time) and span count."""
        threads = _threads()
        categories = {}
        first, last, events = None, None, 0
        for thread in threads:
            slices = thread["slices"]
            self_ns = _self_times(slices)
            events += (len(slices) + len(thread["instants"]) + len(thread["counters"])
                       + len(thread["flows"]))
            enclosing = []  # categories of the slices around the current one
            for index, (start, end, category, _name, _value, depth) in enumerate(slices):
                del enclosing[depth:]
                entry = categories.setdefault(category, {"spans": 0, "total_ms": 0.0,
                                                         "self_ms": 0.0})
                entry["spans"] += 1
                entry["self_ms"] += self_ns[index] / 1e6
                # Total time counts only the outermost span of a category's nest.
                if category not in enclosing:
                    entry["total_ms"] += (end - start) / 1e6
                enclosing.append(category)
                first = start if first is None else min(first, start)
                last = end if last is None else max(last, end)
        return {"events": events, "threads": sum(1 for t in threads if t["slices"]
                                                 or t["instants"] or t["counters"]
                                                 or t["flows"]),
                "duration_ms": 0.0 if first is None else (last - first) / 1e6,
                "categories": categories}

    def print_summary(self):
        """Prints ``summary()`` as a table."""
        summary = self.summary()
        print(f"{summary['events']} events on {summary['threads']} threads over "
              f"{summary['duration_ms']:.3f} ms")
        print(f"{'category':<16} {'spans':>7} {'total ms':>11} {'self ms':>11}")
        for category, entry in sorted(summary["categories"].items(),
                                      key=lambda item: -item[1]["self_ms"]):
            print(f"{category:<16} {entry['spans']:>7} {entry['total_ms']:>11.3f} "
                  f"{entry['self_ms']:>11.3f}")


def _pid():
    import os

    return os.getpid()


_profiler = None
_flows = 0
_lock = threading.Lock()


def get_profiler():
    """The process-wide profiler."""
    global _profiler
    with _lock:
        if _profiler is None:
            _profiler = AdvancedProfiler()
        return _profiler


# The older python-optimizer's counter API: per-function call counts and times.

@dataclasses.dataclass
class ProfilerConfig:
    """``enabled``: record at all; ``detailed``: also put each recorded call on the
    trace as a counter of its time in ms; ``output_format``: what ``format_stats``
    writes ("json", "text" or "csv")."""

    enabled: bool = True
    detailed: bool = False
    output_format: str = "json"


def _new_stats():
    return {"call_count": 0, "total_time": 0.0, "avg_time": 0.0, "min_time": float("inf"),
            "max_time": 0.0}


_stats = {}
_stats_lock = threading.Lock()


class PerformanceProfiler:
    """Call counts and times per function name, process-wide (shared by every
    PerformanceProfiler), as the older python-optimizer kept them::

        profiler = PerformanceProfiler()
        profiler.profile_function("solve", seconds)   # record a measured call

        @profiler.profile                              # or measure each call
        def solve(): ...

        get_performance_stats()["solve"]["avg_time"]
    """

    def __init__(self, config=None):
        self.config = config or ProfilerConfig()
        if self.config.output_format not in ("json", "text", "csv"):
            raise ValueError(f"ProfilerConfig.output_format must be 'json', 'text' or "
                             f"'csv', not {self.config.output_format!r}")

    def profile_function(self, func_name, execution_time):
        """Records one call of ``func_name`` that took ``execution_time`` seconds."""
        if not self.config.enabled:
            return
        seconds = float(execution_time)
        if seconds < 0 or seconds != seconds:
            raise ValueError(f"execution_time must be a duration in seconds, not {seconds}")
        name = str(func_name)
        with _stats_lock:
            entry = _stats.setdefault(name, _new_stats())
            entry["call_count"] += 1
            entry["total_time"] += seconds
            entry["avg_time"] = entry["total_time"] / entry["call_count"]
            entry["min_time"] = min(entry["min_time"], seconds)
            entry["max_time"] = max(entry["max_time"], seconds)
        if self.config.detailed:
            get_profiler().counter(f"{name} (ms)", seconds * 1e3)

    def profile(self, function):
        """A decorator: each call is timed and recorded under the function's qualified
        name (and is a span on the trace)."""
        name = getattr(function, "__qualname__", repr(function))
        span = get_profiler().start_span(name, category="profiled")

        @functools.wraps(function)
        def profiled(*args, **kwargs):
            started = time.perf_counter()
            try:
                with span:
                    return function(*args, **kwargs)
            finally:
                self.profile_function(name, time.perf_counter() - started)

        return profiled

    def get_stats(self):
        return get_performance_stats()

    def format_stats(self):
        """The statistics as text in ``config.output_format``."""
        stats = get_performance_stats()
        if self.config.output_format == "json":
            return json.dumps(stats, indent=1, sort_keys=True)
        fields = ["call_count", "total_time", "avg_time", "min_time", "max_time"]
        if self.config.output_format == "csv":
            lines = [",".join(["function", *fields])]
            lines += [",".join([json.dumps(name), *(repr(entry[f]) for f in fields)])
                      for name, entry in sorted(stats.items())]
        else:
            lines = [f"{'function':<32} {'calls':>8} {'total s':>12} {'avg s':>12} "
                     f"{'min s':>12} {'max s':>12}"]
            lines += [f"{name:<32} {entry['call_count']:>8} {entry['total_time']:>12.6f} "
                      f"{entry['avg_time']:>12.6f} {entry['min_time']:>12.6f} "
                      f"{entry['max_time']:>12.6f}" for name, entry in sorted(stats.items())]
        return "\n".join(lines) + "\n"


def get_performance_stats():
    """{function name: {call_count, total_time, avg_time, min_time, max_time}} (seconds),
    a copy."""
    with _stats_lock:
        return {name: dict(entry) for name, entry in _stats.items()}


def clear_performance_stats():
    with _stats_lock:
        _stats.clear()
