"""The compiled-code cache's benchmarks: time to the first result of twenty hot
functions with a cold and a warm cache, and how processes starting together share one.

    python3 benches/cache_warm_start.py [--repeat 5] [--markdown FILE]

`benches/cache/twenty.py` compiles twenty functions on their first call
(`-X pyopt.jit_threshold=0`) and times the calls; it reports the cache's statistics
over them. Variants, interleaved within each repetition, best time kept:

- python3;
- pyopt-python with `PYOPT_CACHE=0` (every function compiled);
- pyopt-python with a cold cache (an empty directory each time: compiled and stored);
- pyopt-python with a warm cache (a directory a previous run filled: loaded).

Then, with pyopt's default threshold (functions found hot by discovery windows), the
time until all twenty run compiled, with no cache and with a warm one (whose warm-start
records make each function hot the first time a window sees it).

Last, 1, 2, 4 and 8 processes start together on an empty cache: how many compiles and
hits they had between them.
"""

import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from pyopt_testing import PYOPT, PYTHON3, clean_environment  # noqa: E402

SCRIPT = HERE / "cache" / "twenty.py"
FIRST_CALL = ["-X", "pyopt.jit_threshold=0"]
FUNCTIONS = 20


def parse(stdout):
    seconds = float(re.search(r"^BENCH_SECONDS=(\S+)$", stdout, re.M).group(1))
    cache = json.loads(re.search(r"^BENCH_CACHE=(.+)$", stdout, re.M).group(1))
    return seconds, cache


def start(executable, args, env, script_args=()):
    return subprocess.Popen([executable, *args, str(SCRIPT), *script_args],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=clean_environment(env))


def finish(process):
    stdout, stderr = process.communicate(timeout=300)
    if process.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{stderr}")
    return parse(stdout)


def run(executable, args=(), env=None, script_args=()):
    return finish(start(executable, args, env, script_args))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", help="write the result tables here")
    args = parser.parse_args(argv)
    work = pathlib.Path(tempfile.mkdtemp(prefix="pyopt-cache-bench-"))
    try:
        warm_dir = work / "warm"
        run(PYOPT, FIRST_CALL, {"PYOPT_CACHE_DIR": str(warm_dir)})  # fills it
        variants = {
            "python3": lambda i: run(PYTHON3),
            "pyopt, no cache": lambda i: run(PYOPT, FIRST_CALL, {"PYOPT_CACHE": "0"}),
            "pyopt, cold cache": lambda i: run(
                PYOPT, FIRST_CALL, {"PYOPT_CACHE_DIR": str(work / f"cold{i}")}),
            "pyopt, warm cache": lambda i: run(
                PYOPT, FIRST_CALL, {"PYOPT_CACHE_DIR": str(warm_dir)}),
        }
        best = {}
        last = {}
        names = list(variants)
        for i in range(args.repeat):
            for name in names[i % len(names):] + names[:i % len(names)]:
                seconds, cache = variants[name](i)
                best[name] = min(best.get(name, seconds), seconds)
                last[name] = cache
        base = best["python3"]
        lines = [
            f"Time to the first result of {FUNCTIONS} hot functions, each compiled on its "
            f"first call (`benches/cache/twenty.py`; best of {args.repeat}):",
            "",
            "| variant | time to first result | per function, over python3 | "
            "cache hits / compiles |",
            "|---|---|---|---|",
        ]
        for name in names:
            cache = last[name]
            per = (best[name] - base) / FUNCTIONS * 1e3
            cached = "-" if name in ("python3", "pyopt, no cache") else \
                f"{cache['hits']} / {cache['stored']}"
            lines.append(f"| {name} | {best[name] * 1e3:.2f} ms | "
                         f"{'-' if name == 'python3' else f'{per:.3f} ms'} | {cached} |")
        warm = last["pyopt, warm cache"]
        lines += [
            "",
            f"Warm: linking the {FUNCTIONS} cached objects took {warm['load_ms']:.2f} ms in "
            f"all ({warm['load_ms'] / FUNCTIONS:.3f} ms each); cold: compiling them took "
            f"{last['pyopt, cold cache']['compile_ms']:.1f} ms.",
        ]
        until = ["--until-compiled"]
        discovered = {
            "pyopt, no cache": lambda: run(PYOPT, (), {"PYOPT_CACHE": "0"}, until),
            "pyopt, warm cache": lambda: run(
                PYOPT, (), {"PYOPT_CACHE_DIR": str(warm_dir)}, until),
        }
        found = {name: min(variant()[0] for _ in range(args.repeat))
                 for name, variant in discovered.items()}
        lines += [
            "",
            "With the default threshold (hot functions found by discovery windows), the "
            "time until all twenty run compiled:",
            "",
            "| variant | time until all compiled |",
            "|---|---|",
            *(f"| {name} | {seconds * 1e3:.0f} ms |" for name, seconds in found.items()),
            "",
            "Processes starting together on an empty cache (each compiles the twenty "
            "functions on first call):",
            "",
            "| processes | compiles | hits | hit rate | slowest time to first result |",
            "|---|---|---|---|---|",
        ]
        for count in (1, 2, 4, 8):
            directory = work / f"together{count}"
            processes = [start(PYOPT, FIRST_CALL, {"PYOPT_CACHE_DIR": str(directory)})
                         for _ in range(count)]
            outcomes = [finish(p) for p in processes]
            compiles = sum(c["stored"] for _, c in outcomes)
            hits = sum(c["hits"] for _, c in outcomes)
            lookups = hits + sum(c["misses"] for _, c in outcomes)
            slowest = max(s for s, _ in outcomes)
            lines.append(f"| {count} | {compiles} | {hits} | {hits / lookups:.0%} | "
                         f"{slowest * 1e3:.1f} ms |")
        text = "\n".join(lines) + "\n"
        print(text)
        if args.markdown:
            pathlib.Path(args.markdown).write_text(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
