"""Whole-run overhead of PYOPT_TRACE with the JIT's events only (issue 7 item 6; goal
at most 1%): `python3 benches/trace/overhead.py [pyopt-python]`.

Each JIT kernel of benches/kernels runs under pyopt-python compiling on first call, with
and without `PYOPT_TRACE`, alternately, 11 times each; the figures are the best wall time
of the whole process (start-up, compiles, the kernel, writing the trace at exit) and
the best in-process time of the timed call. The cache is off, so every run compiles
(and records) everything."""

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYOPT = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "pyopt-python")
KERNELS = ["fib", "mathloop", "intkernel", "sumsq_list", "nbody_lists", "numpy_stencil",
           "numpy_montecarlo"]
REPEAT = 11


def run(script, extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYOPT_")}
    env.update({"PYOPT_CACHE": "0", "OPENBLAS_NUM_THREADS": "1", **extra})
    started = time.perf_counter()
    done = subprocess.run([PYOPT, "-X", "pyopt.jit_threshold=0", script],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {script}\n{done.stderr}")
    return wall, float(re.search(r"BENCH_SECONDS=([\d.]+)", done.stdout).group(1))


def main():
    print("| kernel | wall, no trace | wall, PYOPT_TRACE | overhead | timed call, no trace "
          "| timed call, PYOPT_TRACE | overhead |")
    print("|---|---|---|---|---|---|---|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        trace = {"PYOPT_TRACE": os.path.join(scratch, "out.pftrace")}
        for name in KERNELS:
            script = str(ROOT / "benches" / "kernels" / f"{name}.py")
            plain, traced = [], []
            for _ in range(REPEAT):
                plain.append(run(script, {}))
                traced.append(run(script, trace))
            wall = (min(w for w, _ in plain), min(w for w, _ in traced))
            call = (min(c for _, c in plain), min(c for _, c in traced))
            wall_ratio, call_ratio = wall[1] / wall[0] - 1, call[1] / call[0] - 1
            worst = max(worst, wall_ratio)
            print(f"| {name} | {wall[0] * 1000:.1f} ms | {wall[1] * 1000:.1f} ms | "
                  f"{wall_ratio * 100:+.1f}% | {call[0] * 1000:.2f} ms | "
                  f"{call[1] * 1000:.2f} ms | {call_ratio * 100:+.1f}% |")
    print(f"\nlargest whole-run overhead: {worst * 100:+.1f}%")


if __name__ == "__main__":
    main()
