"""pyopt's benchmark harness: runs commands side by side and reports ratios.

    pyopt-python benches/bench.py                     # every benchmark
    pyopt-python benches/bench.py startup --repeat 50 # one benchmark, more repetitions

Every benchmark has a baseline variant (python3) and one or more others (pyopt-python,
later Numba and PyPy where installed). Within one run the variants are interleaved:
repetition i runs every variant once, in an order that rotates, so drift in machine load
affects all of them alike. The figure compared is the best (minimum) time over the
repetitions; the median is reported beside it. A ratio above 1.0 means the variant is
slower than the baseline.

A command's time is its wall-clock time as seen from here, unless it prints a line
`BENCH_SECONDS=<float>`, in which case that (the kernel timing itself) is used.

Benchmarks marked `count_instructions` (the short start-up ones) are also run once per
variant under `valgrind --tool=callgrind`, when valgrind is installed: instruction
counts do not depend on machine load, so their ratio is the steadier figure. Those runs
fix PYTHONHASHSEED=0 and OPENBLAS_NUM_THREADS=1 (numpy's BLAS threads spin), which makes
the counts repeat to within a few hundred instructions.

Results print as a table and are written as JSON (default: target/bench/latest.json).
"""

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from pyopt_testing import PYOPT, PYTHON3, clean_environment  # noqa: E402

SELF_TIMED = re.compile(r"^BENCH_SECONDS=([0-9.eE+-]+)$", re.M)


@dataclasses.dataclass
class Benchmark:
    name: str
    description: str
    # variant label -> argv; the first variant is the baseline.
    variants: dict
    goal: str = ""
    count_instructions: bool = False


def default_benchmarks():
    return [
        Benchmark(
            "startup",
            "interpreter start-up and shut-down: `-c pass`",
            {"python3": [PYTHON3, "-c", "pass"], "pyopt": [PYOPT, "-c", "pass"]},
            goal="pyopt within 5% of python3",
            count_instructions=True,
        ),
        Benchmark(
            "import-numpy",
            'start-up plus `import numpy`: `-c "import numpy"`',
            {"python3": [PYTHON3, "-c", "import numpy"],
             "pyopt": [PYOPT, "-c", "import numpy"]},
            goal="pyopt within 5% of python3",
            count_instructions=True,
        ),
    ]


def time_command(argv):
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=clean_environment())
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed ({done.returncode}): {argv}\n{done.stderr}")
    reported = SELF_TIMED.search(done.stdout)
    return float(reported.group(1)) if reported else elapsed


def count_instructions(argv):
    """Instructions executed by `argv` (callgrind's total), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out", *argv],
            capture_output=True, text=True,
            env=clean_environment({"PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}),
        )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not match:
        raise SystemExit(f"callgrind failed ({done.returncode}) on {argv}:\n{done.stderr}")
    return int(match.group(1))


def run_benchmark(benchmark, repeat, warmup):
    labels = list(benchmark.variants)
    samples = {label: [] for label in labels}
    for _ in range(warmup):
        for label in labels:
            time_command(benchmark.variants[label])
    for i in range(repeat):
        order = labels[i % len(labels):] + labels[:i % len(labels)]
        for label in order:
            samples[label].append(time_command(benchmark.variants[label]))
    baseline = min(samples[labels[0]])
    results = {
        label: {
            "best_s": min(times),
            "median_s": statistics.median(times),
            "ratio_to_baseline": min(times) / baseline,
            "samples": len(times),
        }
        for label, times in samples.items()
    }
    if benchmark.count_instructions:
        counts = {label: count_instructions(benchmark.variants[label]) for label in labels}
        if counts[labels[0]]:
            for label, count in counts.items():
                results[label]["instructions"] = count
                results[label]["instructions_ratio"] = count / counts[labels[0]]
    return results


def format_table(report):
    lines = [
        "| benchmark | variant | best | median | ratio (best / baseline best) "
        "| instructions ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in report["benchmarks"].items():
        for label, figures in entry["results"].items():
            instructions = figures.get("instructions_ratio")
            lines.append(
                f"| {name} | {label} | {figures['best_s'] * 1e3:.2f} ms "
                f"| {figures['median_s'] * 1e3:.2f} ms | {figures['ratio_to_baseline']:.3f} "
                f"| {'-' if instructions is None else f'{instructions:.4f}'} |"
            )
    return "\n".join(lines)


def main(argv=None):
    benchmarks = default_benchmarks()
    names = [b.name for b in benchmarks]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(names)})")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "target" / "bench" / "latest.json"))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.benchmarks) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    selected = [b for b in benchmarks if not args.benchmarks or b.name in args.benchmarks]

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_at_start": os.getloadavg()},
        "interpreters": {"python3": PYTHON3, "pyopt": PYOPT},
        "repeat": args.repeat,
        "benchmarks": {},
    }
    for benchmark in selected:
        print(f"{benchmark.name}: {benchmark.description} ({args.repeat} runs each)",
              file=sys.stderr, flush=True)
        report["benchmarks"][benchmark.name] = {
            "description": benchmark.description,
            "goal": benchmark.goal,
            "results": run_benchmark(benchmark, args.repeat, args.warmup),
        }
    print(format_table(report))
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
