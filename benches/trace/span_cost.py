"""What a span costs through the Python API (issue 7 item 6; the older
python-optimizer's spans cost about 7 µs): `pyopt-python benches/trace/span_cost.py`.
Best of 7 runs of 100,000 spans each (`with` block and decorator), minus the same loop
without spans."""

import time

from python_optimizer.profiling import get_profiler

N = 100_000
REPEAT = 7
profiler = get_profiler()


def best(function):
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def empty_loop():
    for _ in range(N):
        pass


def with_spans():
    for _ in range(N):
        with profiler.start_span("step", category="bench"):
            pass


@profiler.start_span("decorated", category="bench")
def decorated():
    pass


def decorated_calls():
    for _ in range(N):
        decorated()


def plain():
    pass


def plain_calls():
    for _ in range(N):
        plain()


loop = best(empty_loop)
span = (best(with_spans) - loop) / N * 1e6
call = (best(decorated_calls) - best(plain_calls)) / N * 1e6
print("| span through the Python API | µs per span, best of 7 |")
print("|---|---|")
print(f"| `with profiler.start_span(...)` | {span:.2f} |")
print(f"| `@profiler.start_span(...)` on a function (over a plain call) | {call:.2f} |")
