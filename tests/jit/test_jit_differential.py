"""Differential tests of the JIT: every case module runs under python3 and under
pyopt-python compiling on first call; the transcripts (results with their exact types,
exceptions with their tracebacks, random streams) must be identical, and every
function expected to compile must have been compiled."""

import json
import pathlib

import pytest

from pyopt_testing import PYOPT, PYTHON3, assert_same, run

HERE = pathlib.Path(__file__).resolve().parent
CASE_FILES = sorted(p for p in (HERE / "cases").glob("*.py") if p.name != "casegen.py")
COMPILE_ON_FIRST_CALL = ["-X", "pyopt.jit_threshold=0"]


def run_cases(case, tmp_path):
    report = tmp_path / "report.json"
    runner = str(HERE / "runner.py")
    reference = run(PYTHON3, [runner, str(case)], timeout=600).normalized(PYTHON3)
    pyopt = run(PYOPT, [*COMPILE_ON_FIRST_CALL, runner, str(case), "--report", str(report)],
                timeout=600).normalized(PYOPT)
    assert_same(reference, pyopt)
    return json.loads(report.read_text())


@pytest.mark.parametrize("case", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_same_results_and_everything_compiled(case, tmp_path):
    entries = run_cases(case, tmp_path)
    wrong = []
    for entry in entries:
        compiled = bool(entry["specializations"])
        if entry["expect"] == "compiled" and not compiled:
            wrong.append(f"{entry['function']} was not compiled: {entry['refusals']}")
        if entry["expect"] == "refused" and compiled:
            wrong.append(f"{entry['function']} was compiled but should not be")
    assert not wrong, "\n".join(wrong)


def test_at_least_300_functions_are_covered(tmp_path):
    count = 0
    for case in CASE_FILES:
        source = case.read_text()
        namespace = {}
        import sys
        sys.path.insert(0, str(case.parent))
        try:
            exec(compile(source, str(case), "exec"), namespace)
        finally:
            sys.path.remove(str(case.parent))
        count += len({id(entry[0]) for entry in namespace["CASES"]})
    assert count >= 300, count
