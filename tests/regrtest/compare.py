"""Runs CPython's own regression tests under python3 and pyopt-python and compares the
result of every test module.

    pyopt-python tests/regrtest/compare.py --modules tests/regrtest/ci_modules.txt
    pyopt-python tests/regrtest/compare.py --all --markdown results.md

Both interpreters run `-m test -jN` on the same modules, one after the other. A module
whose result differs is run again, alone, under both; it counts as a difference only if
the rerun reproduces it (the suite has timing-sensitive tests, and the machine is
shared). Modules this installation's `test` package lacks are taken from
`tests/regrtest/extra/` when present there.

`known_differences.txt` lists the differences we understand and have not removed yet,
each with the result pyopt-python is expected to give and the reason (the issue that
removes it). A listed module whose pyopt result is exactly the expected one is reported
as a known difference; any other difference counts. Exit status: 0 when every module
agrees or differs only as listed, 1 otherwise, 2 on a usage error.
"""

import argparse
import collections
import json
import os
import pathlib
import re
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
EXTRA_DIR = HERE / "extra"
KNOWN_DIFFERENCES = HERE / "known_differences.txt"
sys.path.insert(0, str(HERE.parent))
from pyopt_testing import PYOPT, PYTHON3, clean_environment  # noqa: E402

# "0:00:01 load avg: 0.13 [  2/187] test_math passed" (the third number, with -j, counts
# failures so far).
PROGRESS = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\] (test[\w.]*) (.*)$")


def classify(text):
    """Maps regrtest's per-module status text to a result category."""
    text = text.split(" -- ")[0].strip()
    for prefix, result in (
        ("passed", "passed"),
        ("failed (env changed)", "env changed"),
        ("failed", "failed"),
        ("skipped (resource denied)", "resource denied"),
        ("skipped", "skipped"),
        ("run no tests", "no tests"),
        ("timed out", "timed out"),
        ("crashed", "crashed"),
        ("interrupted", "interrupted"),
        ("worker non-zero exit code", "crashed"),
    ):
        if text.startswith(prefix):
            return result
    return "other: " + text


def parse_results(output):
    results = {}
    for line in output.splitlines():
        match = PROGRESS.search(line)
        if match:
            results[match.group(1)] = classify(match.group(2))
    return results


def read_known_differences(path):
    """`module  expected-pyopt-result  # reason` lines -> {module: (result, reason)}."""
    known = {}
    for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        text, _, reason = line.partition("#")
        if not text.strip():
            continue
        module, _, result = text.strip().partition(" ")
        if not result.strip() or not reason.strip():
            raise SystemExit(f"{path}:{number}: expected `module result  # reason`")
        known[module] = (result.strip(), reason.strip())
    return known


def installed_test_modules():
    test_dir = pathlib.Path(sysconfig.get_path("stdlib")) / "test"
    return {p.stem for p in test_dir.glob("test_*.py")} | {
        p.name for p in test_dir.glob("test_*") if p.is_dir()
    }


def start_regrtest(executable, modules, *, jobs, timeout, testdir=None):
    command = [executable, "-m", "test", f"-j{jobs}", "--timeout", str(timeout)]
    if testdir:
        command += ["--testdir", str(testdir)]
    command += modules
    cwd = tempfile.TemporaryDirectory(prefix="pyopt-regrtest-")
    process = subprocess.Popen(
        command,
        cwd=cwd.name,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    return command, modules, cwd, process


def finish_regrtest(started, log):
    command, modules, cwd, process = started
    output, _ = process.communicate()
    cwd.cleanup()
    with open(log, "a") as handle:
        handle.write(f"$ {' '.join(command)}\n{output}\n")
    results = parse_results(output)
    if not results:
        raise SystemExit(
            f"{command[0]} -m test produced no per-module results "
            f"(exit {process.returncode}); see {log}"
        )
    return results


def run_regrtest(executable, modules, *, jobs, timeout, testdir=None, log):
    started = start_regrtest(executable, modules, jobs=jobs, timeout=timeout, testdir=testdir)
    return finish_regrtest(started, log)


def run_everything(executable, stdlib_modules, extra_modules, args, log):
    """Runs the stdlib modules and the extra ones as two concurrent regrtest runs (the
    multiprocessing tests spend minutes waiting, so the other run fills the cores)."""
    started = time.monotonic()
    runs = []
    if stdlib_modules is not None:
        runs.append(start_regrtest(executable, stdlib_modules, jobs=args.jobs,
                                   timeout=args.timeout))
    if extra_modules:
        runs.append(start_regrtest(executable, extra_modules, jobs=args.jobs,
                                   timeout=args.timeout, testdir=EXTRA_DIR))
    results = {}
    for run in runs:
        results.update(finish_regrtest(run, log))
    return results, time.monotonic() - started


def read_module_list(path):
    modules = []
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            modules.append(line)
    return modules


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--modules", help="file listing test modules, one per line")
    which.add_argument("--all", action="store_true", help="the whole test suite")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds before regrtest kills a hung test module")
    parser.add_argument("--json", help="write per-module results here")
    parser.add_argument("--markdown", help="write a summary table here")
    parser.add_argument("--log-dir", default=str(HERE.parent.parent / "target" / "regrtest"))
    parser.add_argument("--reference", default=PYTHON3)
    parser.add_argument("--pyopt", default=PYOPT)
    args = parser.parse_args(argv)

    if args.all:
        stdlib_modules, extra_modules = [], sorted(p.stem for p in EXTRA_DIR.glob("test_*.py"))
        extra_modules = [m for m in extra_modules if m not in installed_test_modules()]
    else:
        wanted = read_module_list(args.modules)
        installed = installed_test_modules()
        stdlib_modules = [m for m in wanted if m in installed]
        extra_modules = [m for m in wanted if m not in installed
                         and (EXTRA_DIR / f"{m}.py").exists()]
        unknown = sorted(set(wanted) - set(stdlib_modules) - set(extra_modules))
        if unknown:
            parser.error(f"no such test modules here: {' '.join(unknown)}")
        print(f"{len(wanted)} modules ({len(extra_modules)} from {EXTRA_DIR.name}/)")

    os.makedirs(args.log_dir, exist_ok=True)
    runs = {}
    for label, executable in (("python3", args.reference), ("pyopt", args.pyopt)):
        log = os.path.join(args.log_dir, f"{label}.log")
        open(log, "w").close()
        print(f"running the suite under {label} ({executable}) ...", flush=True)
        runs[label] = run_everything(executable, stdlib_modules, extra_modules, args, log)
        print(f"  {len(runs[label][0])} modules in {runs[label][1]:.0f} s", flush=True)

    reference, pyopt = runs["python3"][0], runs["pyopt"][0]
    differing = sorted(m for m in reference.keys() | pyopt.keys()
                       if reference.get(m) != pyopt.get(m))
    known = read_known_differences(KNOWN_DIFFERENCES)
    confirmed, flaky, known_seen = {}, {}, {}
    for module in differing:
        if module in known and pyopt.get(module) == known[module][0]:
            known_seen[module] = {"python3": reference.get(module), "pyopt": pyopt.get(module),
                                  "reason": known[module][1]}
            continue
        testdir = EXTRA_DIR if module in extra_modules else None
        print(f"{module}: python3 {reference.get(module)}, pyopt {pyopt.get(module)}; "
              "rerunning alone ...", flush=True)
        again = {
            label: run_regrtest(exe, [module], jobs=1, timeout=args.timeout, testdir=testdir,
                                log=os.path.join(args.log_dir, f"{label}.rerun.log")).get(module)
            for label, exe in (("python3", args.reference), ("pyopt", args.pyopt))
        }
        if module in known and again["pyopt"] == known[module][0]:
            known_seen[module] = {**again, "reason": known[module][1]}
        elif again["python3"] == again["pyopt"]:
            flaky[module] = {"first": [reference.get(module), pyopt.get(module)],
                             "rerun": again["python3"]}
        else:
            confirmed[module] = again
            # The CI log is often all there is to go on: show why pyopt's rerun differed.
            rerun_log = pathlib.Path(args.log_dir, "pyopt.rerun.log").read_text()
            print(f"{module}: the end of pyopt-python's rerun output:")
            print("".join(f"    {line}\n" for line in rerun_log.splitlines()[-40:]), flush=True)

    counts = {label: collections.Counter(results.values()) for label, (results, _) in runs.items()}
    summary = {
        "modules": len(reference.keys() | pyopt.keys()),
        "counts": {label: dict(c) for label, c in counts.items()},
        "seconds": {label: round(seconds) for label, (_, seconds) in runs.items()},
        "differences": confirmed,
        "known_differences": known_seen,
        "known_but_agreeing": sorted(m for m in known if m in reference and m not in differing),
        "flaky_agreed_on_rerun": flaky,
        "results": {m: {"python3": reference.get(m), "pyopt": pyopt.get(m)}
                    for m in sorted(reference.keys() | pyopt.keys())},
    }
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    if args.markdown:
        pathlib.Path(args.markdown).write_text(markdown(summary))
    print(markdown(summary))
    return 1 if confirmed else 0


def markdown(summary):
    categories = sorted(set(summary["counts"]["python3"]) | set(summary["counts"]["pyopt"]))
    lines = [
        f"{summary['modules']} test modules; identical results: "
        f"{summary['modules'] - len(summary['differences']) - len(summary['known_differences'])}"
        f"; known differences: {len(summary['known_differences'])}; "
        f"unexplained differences: {len(summary['differences'])}.",
        "",
        "| result | python3 | pyopt-python |",
        "|---|---|---|",
    ]
    for category in categories:
        lines.append(f"| {category} | {summary['counts']['python3'].get(category, 0)} | "
                     f"{summary['counts']['pyopt'].get(category, 0)} |")
    lines.append(f"| wall time (s) | {summary['seconds']['python3']} | "
                 f"{summary['seconds']['pyopt']} |")
    not_passing = {m: r for m, r in summary["results"].items()
                   if r["python3"] != "passed" or r["pyopt"] != "passed"}
    if not_passing:
        lines += ["", "Modules that did not pass, under each interpreter:", ""]
        lines += [f"- {m}: python3 {r['python3']}, pyopt {r['pyopt']}"
                  for m, r in not_passing.items()]
    if summary["flaky_agreed_on_rerun"]:
        lines += ["", "Differed in the full run, agreed when rerun alone: "
                  + ", ".join(sorted(summary["flaky_agreed_on_rerun"]))]
    for module, known in summary["known_differences"].items():
        lines += ["", f"Known difference, {module}: python3 {known['python3']}, "
                  f"pyopt {known['pyopt']} ({known['reason']})"]
    if summary["known_but_agreeing"]:
        lines += ["", "Listed in known_differences.txt but now identical (remove them): "
                  + ", ".join(summary["known_but_agreeing"])]
    if summary["differences"]:
        lines += ["", "DIFFERENT results (confirmed by a rerun): "
                  + ", ".join(f"{m} ({r})" for m, r in summary["differences"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
