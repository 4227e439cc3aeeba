"""A profiling run (the older python-optimizer's example, made real):
`pyopt-python examples/profiling_run.py [out directory]`.

Spans around the phases of a small numeric job, a counter, and every export: a Perfetto
trace (open it at ui.perfetto.dev), Chrome trace-event JSON, folded stacks and a flame
graph SVG; then the summary. Under `mpirun -n N`, every rank profiles its own job and
writes `profile.rank<r>.*`; rank 0 prints."""

import os
import sys

from python_optimizer.distributed import rank, size
from python_optimizer.profiling import PerformanceProfiler, get_profiler

profiler = get_profiler()
counters = PerformanceProfiler()


@profiler.start_span("smooth", category="compute")
def smooth(values, passes):
    for _ in range(passes):
        values = [values[0]] + [(values[i - 1] + values[i] + values[i + 1]) / 3.0
                                for i in range(1, len(values) - 1)] + [values[-1]]
    return values


@counters.profile
def job(size):
    with profiler.start_span("prepare", category="io", size=size):
        values = [float(i % 17) for i in range(size)]
    values = smooth(values, 20)
    profiler.counter("checksum", sum(values))
    return sum(values)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    results = [(n, job(n)) for n in (10_000, 20_000, 40_000)]
    stem = os.path.join(out, "profile" if size() == 1 else f"profile.rank{rank()}")
    profiler.export_perfetto_trace(stem + ".pftrace")
    profiler.export_chrome_trace(stem + ".json")
    profiler.export_flamegraph_data(stem + ".folded")
    profiler.export_flamegraph_svg(stem + ".svg")
    if rank() != 0:
        return
    for n, total in results:
        print(f"job({n}) = {total:.3f}")
    profiler.print_summary()
    print(f"job calls: {counters.get_stats()['job']['call_count']}")


if __name__ == "__main__":
    main()
