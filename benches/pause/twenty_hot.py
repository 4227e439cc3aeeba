"""The pause a script sees when 20 functions become hot at once.

Twenty distinct numeric functions are called in turn, every iteration; each iteration
is timed. `BENCH_SECONDS` reports the longest iteration after the first ten (the
pause); the total time is printed too. Under pyopt-python with background compiles the
interpreter keeps running the functions while they compile; with
`-X pyopt.jit_background=0` the call that makes each hot waits for the compiler.
"""

import time

SOURCE = """
def f{i}(n):
    s = {i}.5
    for k in range(n):
        s = s * 0.999 + (k % {m}) * 0.001
    return s
"""

namespace = {}
for i in range(20):
    exec(SOURCE.format(i=i, m=i + 3), namespace)
functions = [namespace[f"f{i}"] for i in range(20)]

started = time.perf_counter()
times = []
total = 0.0
for _ in range(20000):
    t = time.perf_counter()
    for f in functions:
        total += f(40)
    times.append(time.perf_counter() - t)
elapsed = time.perf_counter() - started
print(f"result={total:.6f} iterations={len(times)} total={elapsed * 1e3:.1f} ms "
      f"typical={sorted(times)[len(times) // 2] * 1e3:.3f} ms")
print(f"BENCH_SECONDS={max(times[10:]):.6f}")
