"""pyopt's demo: the same numeric script under python3 and pyopt-python.

Run it with `scripts/demo.sh` (which sets up, builds and installs pyopt-python first) or
directly: `pyopt-python examples/demo.py`.

What it shows today: pyopt-python is a drop-in python3 (the same script, the same output
byte for byte), and its JIT compiles the hot numeric functions: the same results, much
faster, and `python_optimizer.jit_stats()` says what was compiled and what was not, and
why; the compiled-code cache: a second process loads what the first compiled instead
of compiling it again; and a Perfetto trace of a run, to open at ui.perfetto.dev.
"""

import os
import subprocess
import sys
import sysconfig
import tempfile
import time

WORKLOAD = r'''
import math, random, sys, time

def monte_carlo_pi(samples):
    inside = 0
    for _ in range(samples):
        x, y = random.random(), random.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return 4.0 * inside / samples

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def harmonic(n):
    total = 0.0
    for k in range(1, n + 1):
        total += 1.0 / k
    return total

def describe(x):
    try:
        return f"{x:.3f}"
    except (TypeError, ValueError):
        return str(x)

random.seed(2024)
started = time.perf_counter()
results = (monte_carlo_pi(4_000_000), fib(30), harmonic(10_000_000), describe(math.fsum([0.1] * 10)))
elapsed = time.perf_counter() - started
print(repr(results))
print(f"ELAPSED {elapsed:.4f}", file=sys.stderr)
try:
    import python_optimizer
    for s in python_optimizer.jit_stats():
        if s["file"] == "<string>":
            if s["specializations"]:
                what = "compiled for argument types " + ", ".join(s["specializations"])
            else:
                what = "runs in the interpreter: " + (s["not_compiled"] or "not hot yet")
            print(f"JIT {s['function']}: {what}", file=sys.stderr)
    from python_optimizer.distributed import get_distributed_jit_cache
    c = get_distributed_jit_cache().stats()
    print(f"CACHE {c['hits']} {c['stored']} {c['compile_ms']:.1f} {c['load_ms']:.2f}",
          file=sys.stderr)
except ImportError:
    pass
'''


def run(executable, *options, env=None):
    done = subprocess.run([executable, *options, "-c", WORKLOAD], capture_output=True,
                          text=True, check=True, env=env)
    lines = done.stderr.splitlines()
    seconds = float(next(l for l in lines if l.startswith("ELAPSED")).split()[1])
    return done.stdout, seconds, [l for l in lines if l.startswith(("JIT ", "CACHE "))]


def cache_figures(lines):
    """(hits, stored, compile ms, load ms) from a run's CACHE line."""
    fields = next(l for l in lines if l.startswith("CACHE ")).split()[1:]
    return int(fields[0]), int(fields[1]), float(fields[2]), float(fields[3])


def main():
    under_pyopt = "python_optimizer._native" in sys.builtin_module_names
    if not under_pyopt:
        sys.exit("run this demo with pyopt-python (scripts/demo.sh builds and installs it)")
    import python_optimizer

    build = python_optimizer.build_info()
    print(f"pyopt {python_optimizer.__version__} ({build['profile']} build), "
          f"CPython {sys.version.split()[0]}, executable {sys.executable}")
    inactive = [o["key"] for o in python_optimizer.config_details() if not o["active"]]
    if inactive:
        print(f"pyopt options not active yet in this release: {', '.join(inactive)}")
    print()

    python3 = os.path.join(sysconfig.get_config_var("BINDIR"), "python3.11")
    print("The same workload (monte-carlo pi with random.random(), recursive fib, a float")
    print("loop, math.fsum) under python3 and pyopt-python (compiling on first call):")
    reference_output, reference_seconds, _ = run(python3)
    pyopt_output, pyopt_seconds, jit_lines = run(sys.executable, "-X", "pyopt.jit_threshold=0")
    print(f"  python3       {reference_seconds * 1e3:8.1f} ms  -> {reference_output.strip()}")
    print(f"  pyopt-python  {pyopt_seconds * 1e3:8.1f} ms  -> {pyopt_output.strip()}")
    same = reference_output == pyopt_output
    print(f"  identical output: {same}; speed-up {reference_seconds / pyopt_seconds:.1f}x")
    for line in jit_lines:
        if line.startswith("JIT "):
            print("  " + line)

    print()
    print("The compiled-code cache: two more runs sharing a new, empty cache directory:")
    with tempfile.TemporaryDirectory(prefix="pyopt-demo-cache-") as directory:
        env = {**os.environ, "PYOPT_CACHE_DIR": directory}
        for label in ("first run ", "second run"):
            output, seconds, lines = run(sys.executable, "-X", "pyopt.jit_threshold=0",
                                         env=env)
            hits, stored, compile_ms, load_ms = cache_figures(lines)
            same = same and output == reference_output
            print(f"  {label}  {seconds * 1e3:8.1f} ms  compiled {stored} functions "
                  f"({compile_ms:.0f} ms), loaded {hits} from the cache, linked in {load_ms:.1f} ms")

    print()
    trace = os.path.join(tempfile.gettempdir(), "pyopt-demo.pftrace")
    run(sys.executable, "-X", "pyopt.jit_threshold=0",
        env={**os.environ, "PYOPT_TRACE": trace, "PYOPT_CACHE": "0"})
    print("A trace of one more run (compiles with their phases, deoptimizations, one track")
    print(f"per thread): {trace} ({os.path.getsize(trace)} bytes); open it at "
          "https://ui.perfetto.dev")

    print()
    print("Child processes run pyopt-python too (multiprocessing, subprocess):")
    child = subprocess.run([sys.executable, "-c", "import sys, python_optimizer; "
                            "print(sys.executable, python_optimizer.__version__)"],
                           capture_output=True, text=True, check=True)
    print(f"  child: {child.stdout.strip()}")
    if not same:
        sys.exit("the outputs differ: please report this as a bug")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\ndemo finished in {time.perf_counter() - started:.2f} s")
