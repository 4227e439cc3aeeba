"""Monte-carlo estimate of pi in a script's top-level loop (no function at all).

Times itself and prints `BENCH_SECONDS=<s>` like the other kernels (benches/bench.py
reads it). Numba cannot compile a module body, so there is no Numba variant."""

import random
import sys
import time

SAMPLES = 20_000_000

random.seed(1)
started = time.perf_counter()
inside = 0
for _ in range(SAMPLES):
    x = random.random()
    y = random.random()
    if x * x + y * y <= 1.0:
        inside += 1
result = 4.0 * inside / SAMPLES
elapsed = time.perf_counter() - started
print(f"result={result!r}")
print(f"BENCH_SECONDS={elapsed:.6f}")
sys.stdout.flush()
