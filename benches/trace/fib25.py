"""Recursive fib(25) (242,785 calls), timed in-process: the call-tracing benchmark's
workload (benches/trace/calls.py)."""

import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


started = time.perf_counter()
result = fib(25)
print(f"{result} BENCH_SECONDS={time.perf_counter() - started:.6f}")
