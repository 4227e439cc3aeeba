"""python_optimizer.profiling: spans from Python, nested per thread, exported as
Perfetto protobuf, Chrome trace-event JSON, folded stacks, a timeline and a summary."""

import json

from perfetto_check import BEGIN, load

from pyopt_testing import PYOPT, run
from pyopt_testing import write_script as write

SCRIPT = """
    import sys, threading, time
    from python_optimizer.profiling import get_profiler

    profiler = get_profiler()

    @profiler.start_span("inner", category="work")
    def inner():
        time.sleep(0.01)  # 5x outer's own sleep: self times compare even under load

    def outer():
        with profiler.start_span("outer", category="work", size=3):
            time.sleep(0.002)
            inner()
            inner()

    def worker():
        with profiler.start_span("in thread", category="threads"):
            inner()

    outer()
    thread = threading.Thread(target=worker, name="worker-1")
    thread.start()
    thread.join()
    profiler.instant("checkpoint", step=1)
    profiler.counter("queue", 3)
    out = sys.argv[1]
    profiler.export_perfetto_trace(out + "/trace.pftrace")
    profiler.export_chrome_trace(out + "/trace.json")
    profiler.export_flamegraph_data(out + "/stacks.folded")
    profiler.export_flamegraph_svg(out + "/flame.svg", title="spans test")
    profiler.export_timeline_data(out + "/timeline.json")
    profiler.print_summary()
"""


def test_spans_nest_per_thread_in_every_export(tmp_path):
    script = write(tmp_path, "spans.py", SCRIPT)
    done = run(PYOPT, [script, str(tmp_path)])
    assert done.returncode == 0, done.stderr

    # Perfetto: decodes against the official schema, structure checked.
    tracks, events = load(tmp_path / "trace.pftrace")
    begins = {(e[1], e[2]) for e in events if e[0] == BEGIN}
    assert {("outer", 1), ("inner", 2), ("in thread", 1)} <= begins, begins
    names = {t.thread.thread_name for t in tracks.values() if t.HasField("thread")}
    assert {"main", "worker-1"} <= names, names

    # Chrome JSON: complete events nested per thread.
    chrome = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    spans = [e for e in chrome if e["ph"] == "X"]
    outer = next(e for e in spans if e["name"] == "outer")
    assert outer["args"] == {"args": '{"size": 3}'}
    inner = [e for e in spans if e["name"] == "inner" and e["tid"] == outer["tid"]]
    assert len(inner) == 2
    for child in inner:
        assert outer["ts"] <= child["ts"]
        assert child["ts"] + child["dur"] <= outer["ts"] + outer["dur"] + 1e-3
    threaded = next(e for e in spans if e["name"] == "in thread")
    assert threaded["tid"] != outer["tid"]
    assert any(e["ph"] == "M" and e["args"]["name"] == "worker-1" for e in chrome)
    assert any(e["ph"] == "i" and e["name"] == "checkpoint" for e in chrome)
    assert any(e["ph"] == "C" and e["name"] == "queue" for e in chrome)

    # Folded stacks: the known call tree, self times in µs.
    folded = dict(line.rsplit(" ", 1) for line in
                  (tmp_path / "stacks.folded").read_text().splitlines())
    assert set(folded) >= {"main;outer", "main;outer;inner", "worker-1;in thread",
                           "worker-1;in thread;inner"}, folded
    assert int(folded["main;outer;inner"]) >= 2 * 10000 * 0.9
    # outer's self time leaves out its two children.
    assert 2000 * 0.9 <= int(folded["main;outer"]) < int(folded["main;outer;inner"])

    # The flame graph: an SVG with a frame per span name.
    svg = (tmp_path / "flame.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for name in ("spans test", "outer", "inner", "in thread", "worker-1"):
        assert name in svg, name

    # Timeline and summary.
    timeline = json.loads((tmp_path / "timeline.json").read_text())["threads"]
    main = next(t for t in timeline if t["thread"] == "main")
    assert [s["depth"] for s in main["slices"] if s["category"] == "work"] == [0, 1, 1]
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["category", "spans", "total", "ms", "self", "ms"]
    work = next(line.split() for line in lines if line.startswith("work "))
    spans, total, self_ms = int(work[1]), float(work[2]), float(work[3])
    assert spans == 4  # outer, its two inners, and the worker's inner
    # Nested spans of one category count once in its total; self time adds up to it.
    assert abs(total - self_ms) < 0.5 and total >= 4 * 2 * 0.9


def test_the_older_performance_profiler_counts_calls_and_times(tmp_path):
    script = write(tmp_path, "older.py", """
        import sys, time
        from python_optimizer.profiling import (PerformanceProfiler, ProfilerConfig,
                                                clear_performance_stats,
                                                get_performance_stats, get_profiler)

        profiler = PerformanceProfiler()
        profiler.profile_function("solve", 0.5)
        profiler.profile_function("solve", 1.5)

        @PerformanceProfiler(ProfilerConfig(detailed=True)).profile
        def step(n):
            time.sleep(0.001)
            return n * 2

        print([step(i) for i in range(3)])
        stats = get_performance_stats()
        solve = stats["solve"]
        print(solve["call_count"], solve["total_time"], solve["avg_time"],
              solve["min_time"], solve["max_time"])
        print(stats["step"]["call_count"], stats["step"]["min_time"] >= 0.001)
        PerformanceProfiler(ProfilerConfig(enabled=False)).profile_function("off", 1.0)
        print("off" in get_performance_stats())
        print(PerformanceProfiler(ProfilerConfig(output_format="csv")).format_stats()
              .splitlines()[1].split(",")[:2])
        print(PerformanceProfiler(ProfilerConfig(output_format="text")).format_stats()
              .splitlines()[1].split()[:2])
        for bad in (lambda: PerformanceProfiler(ProfilerConfig(output_format="xml")),
                    lambda: profiler.profile_function("solve", -1)):
            try:
                bad()
            except ValueError as e:
                print("ValueError", e)
        get_profiler().export_perfetto_trace(sys.argv[1])
        clear_performance_stats()
        print(get_performance_stats())
    """)
    out = tmp_path / "older.pftrace"
    done = run(PYOPT, [script, str(out)])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[0, 2, 4]"
    assert lines[1] == "2 2.0 1.0 0.5 1.5"
    assert lines[2] == "3 True"
    assert lines[3] == "False"
    assert lines[4] == repr(['"solve"', "2"])
    assert lines[5] == repr(["solve", "2"])
    assert lines[6].startswith("ValueError ProfilerConfig.output_format must be")
    assert lines[7] == "ValueError execution_time must be a duration in seconds, not -1.0"
    assert lines[8] == "{}"
    # Decorated calls are spans on the trace, and `detailed` adds a counter track.
    tracks, events = load(out)
    assert sum(1 for e in events if e[0] == BEGIN and e[1] == "step") == 3
    assert any(t.name == "step (ms)" for t in tracks.values())


def test_flows_link_events_and_processes_are_named(tmp_path):
    script = write(tmp_path, "flows.py", """
        import json, sys, threading
        from python_optimizer.profiling import get_profiler

        profiler = get_profiler()
        profiler.set_process_name("rank 0")
        flow = profiler.flow_start("send task")
        def receive():
            with profiler.start_span("task"):
                profiler.flow_end("receive task", flow)
        t = threading.Thread(target=receive)
        t.start(); t.join()
        other = profiler.new_flow_id()
        print(flow != other, flow >> 32 == other >> 32)
        profiler.export_perfetto_trace(sys.argv[1] + "/flows.pftrace")
        profiler.export_chrome_trace(sys.argv[1] + "/flows.json")
    """)
    done = run(PYOPT, [script, str(tmp_path)])
    assert (done.returncode, done.stdout) == (0, "True True\n"), done.stderr
    tracks, _ = load(tmp_path / "flows.pftrace")
    assert [t.process.process_name for t in tracks.values() if t.HasField("process")] == \
        ["rank 0"]
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as perfetto
    trace = perfetto.Trace()
    trace.ParseFromString((tmp_path / "flows.pftrace").read_bytes())
    starts = [p.track_event for p in trace.packet if p.track_event.flow_ids]
    ends = [p.track_event for p in trace.packet if p.track_event.terminating_flow_ids]
    assert len(starts) == len(ends) == 1
    assert starts[0].flow_ids == ends[0].terminating_flow_ids
    assert starts[0].track_uuid != ends[0].track_uuid  # from one thread to another
    chrome = json.loads((tmp_path / "flows.json").read_text())["traceEvents"]
    flows = sorted((e["ph"], e["id"]) for e in chrome if e["ph"] in "sf")
    assert [ph for ph, _ in flows] == ["f", "s"] and flows[0][1] == flows[1][1]
