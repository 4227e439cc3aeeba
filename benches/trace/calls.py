"""PYOPT_TRACE_CALLS against VizTracer on recursive fib(25) (issue 7 item 6):
`python3 benches/trace/calls.py [pyopt-python]`.

Each variant runs benches/trace/fib25.py in a fresh process; the figure is the best of
7 in-process timings of fib(25), and the ratio is to python3 in the same run. VizTracer
(scripts/bench-requirements.txt) runs under python3 with a buffer large enough to keep
every call, as PYOPT_TRACE_CALLS does."""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYOPT = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "pyopt-python")
PYTHON3 = os.environ.get("PYTHON3", "python3")
SCRIPT = str(HERE / "fib25.py")
REPEAT = 7


def environment(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYOPT_")}
    env.update(extra)
    return env


def best(argv, extra=None):
    times = []
    for _ in range(REPEAT):
        done = subprocess.run(argv, capture_output=True, text=True, env=environment(extra or {}))
        if done.returncode != 0:
            raise SystemExit(f"failed: {argv}\n{done.stderr}")
        times.append(float(re.search(r"BENCH_SECONDS=([\d.]+)", done.stdout).group(1)))
    return min(times)


def has_viztracer():
    return subprocess.run([PYTHON3, "-c", "import viztracer"], capture_output=True).returncode == 0


def main():
    with tempfile.TemporaryDirectory() as scratch:
        trace = os.path.join(scratch, "out.pftrace")
        calls = {"PYOPT_TRACE": trace, "PYOPT_TRACE_CALLS": "1"}
        rows = [
            ("python3", best([PYTHON3, SCRIPT])),
            ("pyopt-python, JIT off", best([PYOPT, SCRIPT], {"PYOPT_JIT": "0"})),
            ("pyopt-python, JIT off, PYOPT_TRACE_CALLS=1",
             best([PYOPT, SCRIPT], {"PYOPT_JIT": "0", **calls})),
            ("pyopt-python, JIT on", best([PYOPT, SCRIPT])),
            ("pyopt-python, JIT on, PYOPT_TRACE_CALLS=1", best([PYOPT, SCRIPT], calls)),
        ]
        if has_viztracer():
            rows.append(("python3 -m viztracer (1M-entry buffer)",
                         best([PYTHON3, "-m", "viztracer", "--quiet", "--tracer_entries",
                               "1000000", "-o", os.path.join(scratch, "viz.json"), SCRIPT])))
        else:
            print("(viztracer is not installed for python3: pip install viztracer)")
    base = rows[0][1]
    print("| run | fib(25) | vs python3 |")
    print("|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1000:.1f} ms | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
