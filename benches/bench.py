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

pyopt-python runs with its compiled-code cache off (`PYOPT_CACHE=0`): first calls and
compile times here include compiling; `benches/cache_warm_start.py` measures the cache.

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
from pyopt_testing import PYOPT, PYTHON3  # noqa: E402
from pyopt_testing import clean_environment as testing_environment  # noqa: E402


def clean_environment(extra=None):
    """The test helpers' environment with the compiled-code cache off: these benchmarks
    measure compiling (first calls, compile times) every time, not loading what an
    earlier repetition stored. `cache_warm_start.py` measures the cache."""
    return testing_environment({"PYOPT_CACHE": "0", **(extra or {})})

SELF_TIMED = re.compile(r"^BENCH_SECONDS=([0-9.eE+-]+)$", re.M)
FIRST_CALL = re.compile(r"^BENCH_FIRST_CALL_SECONDS=([0-9.eE+-]+)$", re.M)


@dataclasses.dataclass
class Benchmark:
    name: str
    description: str
    # variant label -> argv, or (argv, extra environment); the first is the baseline.
    variants: dict
    goal: str = ""
    count_instructions: bool = False


KERNELS = HERE / "kernels"
JIT_KERNELS = [
    ("fib", "recursive fib(32)", "fib >= 28x (Numba)"),
    ("montecarlo", "monte-carlo pi, 5e6 samples with random.random()", ">= 10x (Numba)"),
    ("nbody", "three bodies, 200k steps on locals and tuples", ">= 90x (Numba)"),
    ("intkernel", "Collatz lengths below 3e5 + gcd sum 300x300", ">= best of Numba/PyPy"),
    ("mathloop", "sin, cos, sqrt, exp over 3e6 iterations", ">= best of Numba/PyPy"),
    ("sumsq_list", "sum of squares over a list of 1e6 floats", ">= 32x (PyPy)"),
    ("indexed_array", "indexed loop over a 1e6-item array.array('d')", ">= 88x (PyPy)"),
    ("matmul_lists", "triple-loop matrix multiply, 120x120 lists of lists", ">= Numba"),
    ("numpy_indexed", "indexed loop over a 1e6-item float64 numpy array", ">= 205x (Numba)"),
    ("numpy_stencil", "2-D five-point stencil, 500x500 float64 numpy arrays, 4 sweeps",
     ">= Numba"),
    ("numpy_matmul", "triple-loop matrix multiply, 150x150 float64 numpy arrays, result "
     "array made inside", ">= Numba"),
    ("numpy_montecarlo", "monte-carlo pi, 5e6 samples with np.random.random()", ">= Numba"),
    ("nbody_lists", "n-body on lists (pyperformance's bm_nbody), 5 bodies, 100k steps",
     ">= 96x (PyPy)"),
]


# Kernels also compared with relaxed float arithmetic: pyopt-python's
# `-X pyopt.jit_fastmath=1` against Numba's `@njit(fastmath=True)`.
FASTMATH_KERNELS = [
    ("numpy_indexed", "indexed loop over a 1e6-item float64 numpy array, fastmath",
     ">= Numba's fastmath figure"),
]


# Kernels Numba rejects: it cannot reflect a list of lists back to Python.
# Numba compiles neither lists of lists nor lists of tuples of lists.
NUMBA_CANNOT = {"matmul_lists", "nbody_lists"}


def numba_available():
    done = subprocess.run([PYTHON3, "-c", "import numba"], capture_output=True)
    return done.returncode == 0


def jit_benchmarks():
    """The JIT kernels under python3, pyopt-python (compiling on first call, as Numba's
    @njit does), Numba (python3 with BENCH_NUMBA=1) and PyPy where installed."""
    with_numba = numba_available()
    pypy = shutil.which("pypy3")
    benchmarks = []
    for name, description, goal in JIT_KERNELS:
        script = str(KERNELS / f"{name}.py")
        variants = {
            "python3": [PYTHON3, script],
            "pyopt": [PYOPT, "-X", "pyopt.jit_threshold=0", script],
        }
        if with_numba and name not in NUMBA_CANNOT:
            variants["numba"] = ([PYTHON3, script], {"BENCH_NUMBA": "1"})
        if pypy and not name.startswith("numpy_"):  # (Debian's PyPy has no numpy)
            variants["pypy"] = [pypy, script]
        benchmarks.append(Benchmark(f"jit-{name}", description, variants, goal=goal))
    for name, description, goal in FASTMATH_KERNELS:
        script = str(KERNELS / f"{name}.py")
        variants = {
            "python3": [PYTHON3, script],
            "pyopt": [PYOPT, "-X", "pyopt.jit_threshold=0", "-X", "pyopt.jit_fastmath=1",
                      script],
        }
        if with_numba:
            variants["numba"] = ([PYTHON3, script], {"BENCH_NUMBA": "1", "BENCH_FASTMATH": "1"})
        benchmarks.append(Benchmark(f"jit-{name}-fastmath", description, variants, goal=goal))
    return benchmarks


SINGLE_CALL_KERNELS = [
    ("nbody", 10, "three bodies, 2M steps, in one call", "fast when called once"),
    ("montecarlo", 4, "monte-carlo pi, 2e7 samples, in one call", "fast when called once"),
]


def single_call_benchmarks():
    """Kernels called exactly once with a long loop (a script's `main()`), compiling
    included: pyopt-python with its default settings notices the running call and
    continues it in a compiled loop (on-stack replacement); Numba compiles at the call."""
    with_numba = numba_available()
    benchmarks = []
    for name, scale, description, goal in SINGLE_CALL_KERNELS:
        script = str(KERNELS / f"{name}.py")
        single = {"BENCH_SINGLE_CALL": str(scale)}
        variants = {
            "python3": ([PYTHON3, script], single),
            "pyopt": ([PYOPT, script], single),
        }
        if with_numba:
            variants["numba"] = ([PYTHON3, script], {**single, "BENCH_NUMBA": "1"})
        benchmarks.append(Benchmark(f"single-call-{name}", description, variants, goal=goal))
    return benchmarks


def module_loop_benchmarks():
    """A script's top-level loop (the module body, no function): pyopt-python with its
    default settings enters it compiled while it runs."""
    script = str(KERNELS / "montecarlo_module.py")
    variants = {"python3": [PYTHON3, script], "pyopt": [PYOPT, script]}
    return [Benchmark("single-call-module-montecarlo",
                      "monte-carlo pi, 2e7 samples, in a module body's loop", variants,
                      goal="fast at module level")]


OVERHEAD = HERE / "overhead"
OVERHEAD_SCRIPTS = [
    ("strings_dicts", "recursion over strings and dicts"),
    ("methods", "small methods on classes"),
    ("pyperf_style", "n-queens, an expression parser, a task scheduler"),
]


def overhead_benchmarks():
    """Call-heavy code the JIT never compiles, under python3 and pyopt-python with its
    default settings (discovery windows, trampolines): what the JIT costs code it does
    not help. `pyopt-hook-always` keeps the eval-frame hook installed all the time
    (`jit_threshold=1`, as releases before 0.2 did), for comparison."""
    return [
        Benchmark(f"overhead-{name}", description,
                  {"python3": [PYTHON3, str(OVERHEAD / f"{name}.py")],
                   "pyopt": [PYOPT, str(OVERHEAD / f"{name}.py")],
                   "pyopt-hook-always": [PYOPT, "-X", "pyopt.jit_threshold=1",
                                         str(OVERHEAD / f"{name}.py")]},
                  goal="pyopt within 3% of python3")
        for name, description in OVERHEAD_SCRIPTS
    ]


def pause_benchmark():
    """The longest pause a script sees when 20 functions become hot at once: compiles
    on the background pool (the default) against compiles the hot call waits for."""
    script = str(HERE / "pause" / "twenty_hot.py")
    return Benchmark(
        "compile-pause", "longest loop iteration while 20 functions become hot at once",
        {"python3": [PYTHON3, script],
         "pyopt": [PYOPT, script],
         "pyopt-no-background": [PYOPT, "-X", "pyopt.jit_background=0", script]},
        goal="pyopt's longest pause near python3's longest iteration")


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
            goal="pyopt within 3% of python3",
            count_instructions=True,
        ),
        *overhead_benchmarks(),
        pause_benchmark(),
        *jit_benchmarks(),
        *single_call_benchmarks(),
        *module_loop_benchmarks(),
    ]


def split_variant(variant):
    if isinstance(variant, tuple):
        return variant
    return variant, {}


def time_command(variant):
    argv, extra = split_variant(variant)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=clean_environment(extra))
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed ({done.returncode}): {argv}\n{done.stderr}")
    reported = SELF_TIMED.search(done.stdout)
    first_call = FIRST_CALL.search(done.stdout)
    return (float(reported.group(1)) if reported else elapsed,
            float(first_call.group(1)) if first_call else None)


def count_instructions(variant):
    """Instructions executed by a command (callgrind's total), or None without valgrind."""
    argv, _ = split_variant(variant)
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
    first_calls = {label: [] for label in labels}
    for _ in range(warmup):
        for label in labels:
            time_command(benchmark.variants[label])
    for i in range(repeat):
        order = labels[i % len(labels):] + labels[:i % len(labels)]
        for label in order:
            seconds, first_call = time_command(benchmark.variants[label])
            samples[label].append(seconds)
            if first_call is not None:
                first_calls[label].append(first_call)
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
    for label, times in first_calls.items():
        if times:
            results[label]["first_call_median_s"] = statistics.median(times)
    if benchmark.count_instructions:
        counts = {label: count_instructions(benchmark.variants[label]) for label in labels}
        if counts[labels[0]]:
            for label, count in counts.items():
                results[label]["instructions"] = count
                results[label]["instructions_ratio"] = count / counts[labels[0]]
    return results


def compile_times():
    """Compile time per function (front end to loaded code) over the JIT test cases:
    p50 and p95 in milliseconds, from pyopt-python's own statistics."""
    done = subprocess.run([PYOPT, "-X", "pyopt.jit_threshold=0", str(HERE / "compile_times.py")],
                          capture_output=True, text=True, env=clean_environment())
    if done.returncode != 0:
        raise SystemExit(f"compile_times.py failed:\n{done.stderr}")
    times = sorted(json.loads(done.stdout))
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return {"functions": len(times), "p50_ms": pick(0.5), "p95_ms": pick(0.95),
            "max_ms": times[-1]}


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


def ms(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.2f} ms"


def summary_table(report):
    """The README's one table: every JIT kernel against python3, Numba and PyPy (time,
    speed-up, first call), what pyopt costs code it does not compile, the longest pause
    while functions compile, and compile time per function."""
    lines = [
        "| benchmark | python3 | pyopt-python | pyopt speed-up | pyopt first call "
        "| Numba `@njit` (first call) | PyPy | pyopt vs best of Numba/PyPy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    benchmarks = report["benchmarks"]
    for name, entry in benchmarks.items():
        if not name.startswith("jit-"):
            continue
        r = entry["results"]
        base, opt = r["python3"]["best_s"], r["pyopt"]["best_s"]
        others = {k: r[k]["best_s"] for k in ("numba", "pypy") if k in r}
        best = min(others, key=others.get) if others else None
        first = lambda label: (ms(r[label]["first_call_median_s"])  # noqa: E731
                               if "first_call_median_s" in r[label] else "-")
        numba = f"{ms(r['numba']['best_s'])} ({first('numba')})" if "numba" in r else "-"
        lines.append(
            f"| {entry['description']} | {ms(base)} | {ms(opt)} | {base / opt:.1f}x "
            f"| {first('pyopt')} | {numba} "
            f"| {ms(others['pypy']) if 'pypy' in others else '-'} "
            f"| {f'{others[best] / opt:.2f}x ({best})' if best else '-'} |")
    for name, entry in benchmarks.items():
        if not name.startswith("single-call-"):
            continue
        r = entry["results"]
        base, opt = r["python3"]["best_s"], r["pyopt"]["best_s"]
        numba = r["numba"]["best_s"] if "numba" in r else None
        numba_time = ms(numba) if numba else "-"
        versus = f"{numba / opt:.2f}x (numba)" if numba else "-"
        lines.append(
            f"| {entry['description']} (compiling included) | {ms(base)} | {ms(opt)} "
            f"| {base / opt:.1f}x | | {numba_time} | - | {versus} |")
    for name, entry in benchmarks.items():
        if name.startswith(("overhead-", "startup", "import-")):
            r = entry["results"]
            base, opt = r["python3"]["best_s"], r["pyopt"]["best_s"]
            instructions = r["pyopt"].get("instructions_ratio")
            extra = (f"; {instructions:.4f}x instructions" if instructions else "")
            hook = r.get("pyopt-hook-always")
            extra += (f"; {base / hook['best_s']:.2f}x with the hook always on"
                      if hook else "")
            lines.append(f"| not compiled: {entry['description']} | {ms(base)} | {ms(opt)} "
                         f"| {base / opt:.3f}x{extra} | | | | |")
    if "compile-pause" in benchmarks:
        r = benchmarks["compile-pause"]["results"]
        waiting = r.get("pyopt-no-background")
        note = f"waiting for compiles: {ms(waiting['best_s'])}" if waiting else ""
        lines.append(
            f"| longest pause, 20 functions hot at once | {ms(r['python3']['best_s'])} "
            f"| {ms(r['pyopt']['best_s'])} | {note} | | | | |")
    if report.get("compile_times"):
        c = report["compile_times"]
        lines.append(f"| compile time per function ({c['functions']} functions) | | "
                     f"p50 {c['p50_ms']:.1f} ms, p95 {c['p95_ms']:.1f} ms | | | | | |")
    return "\n".join(lines)


def main(argv=None):
    benchmarks = default_benchmarks()
    names = [b.name for b in benchmarks]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(names)})")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per variant (default: 30 for start-up, 5 for JIT kernels)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "target" / "bench" / "latest.json"))
    parser.add_argument("--markdown", default=None,
                        help="also write the README's summary table to this file")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.benchmarks) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}")
    if args.repeat is not None and args.repeat < 1:
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
        long_running = benchmark.name.startswith(("jit-", "single-call-"))
        repeat = args.repeat or (5 if long_running else 30)
        warmup = min(args.warmup, 1) if long_running else args.warmup
        print(f"{benchmark.name}: {benchmark.description} ({repeat} runs each)",
              file=sys.stderr, flush=True)
        report["benchmarks"][benchmark.name] = {
            "description": benchmark.description,
            "goal": benchmark.goal,
            "results": run_benchmark(benchmark, repeat, warmup),
        }
    report["compile_times"] = compile_times() if any(
        b.name.startswith("jit-") for b in selected) else None
    print(format_table(report))
    if report.get("compile_times"):
        c = report["compile_times"]
        print(f"\ncompile time per function over {c['functions']} functions: "
              f"p50 {c['p50_ms']:.2f} ms, p95 {c['p95_ms']:.2f} ms, max {c['max_ms']:.2f} ms")
    if args.markdown:
        pathlib.Path(args.markdown).write_text(summary_table(report) + "\n")
        print(f"\nwrote {args.markdown}", file=sys.stderr)
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
