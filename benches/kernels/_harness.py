"""Shared by the kernel scripts: optional Numba compilation and timing.

A kernel script defines its functions, then calls `run(main, warmup_args, args,
functions)`: `main(*warmup_args)` runs first (under pyopt-python this compiles the
kernel; under Numba it triggers the JIT) and its time is printed with
`BENCH_FIRST_CALL_SECONDS=<s>`; then `main(*args)` is timed and its result printed with
`BENCH_SECONDS=<s>` (benches/bench.py reads both). With BENCH_NUMBA=1 the
listed functions are replaced by `numba.njit` versions first (`fastmath=True` with
BENCH_FASTMATH=1 too).

With BENCH_SINGLE_CALL=<k> there is no warm-up: `main` is called exactly once, with its
first argument multiplied by k (a script spending seconds in one call), and that call
is timed, compiling included.
"""

import os
import sys
import time


def run(module_globals, main_name, warmup_args, args, functions):
    if os.environ.get("BENCH_NUMBA") == "1":
        import numba

        fastmath = os.environ.get("BENCH_FASTMATH") == "1"
        for name in functions:
            module_globals[name] = numba.njit(fastmath=fastmath)(module_globals[name])
    main = module_globals[main_name]
    single = os.environ.get("BENCH_SINGLE_CALL")
    if single:
        args = (args[0] * int(single), *args[1:])
    else:
        started = time.perf_counter()
        main(*warmup_args)
        # The first call: compiling included (Numba, pyopt-python compiling on first
        # call).
        print(f"BENCH_FIRST_CALL_SECONDS={time.perf_counter() - started:.6f}")
    started = time.perf_counter()
    result = main(*args)
    elapsed = time.perf_counter() - started
    print(f"result={result!r}")
    print(f"BENCH_SECONDS={elapsed:.6f}")
    sys.stdout.flush()
