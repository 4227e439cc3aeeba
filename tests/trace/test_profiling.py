"""python_optimizer.profiling: spans from Python, nested per thread, exported as
Perfetto protobuf, Chrome trace-event JSON, folded stacks, a timeline and a summary."""

import json

from test_perfetto_trace import BEGIN, load

from pyopt_testing import PYOPT, run
from pyopt_testing import write_script as write

SCRIPT = """
    import sys, threading, time
    from python_optimizer.profiling import get_profiler

    profiler = get_profiler()

    @profiler.start_span("inner", category="work")
    def inner():
        time.sleep(0.002)

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
    assert int(folded["main;outer;inner"]) >= 2 * 2000 * 0.9
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
