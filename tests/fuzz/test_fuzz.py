"""The JIT fuzzer in CI: a fixed seed and a time budget (tests/fuzz/fuzzgen.py says
more; `scripts/fuzz.sh` runs it for hours)."""

import os
import pathlib
import time

from fuzzgen import compare, differing_functions, generate, narrow

CASEGEN = pathlib.Path(__file__).resolve().parent.parent / "jit" / "cases" / "casegen.py"

# Seconds of fuzzing per test run; FUZZ_SECONDS overrides.
BUDGET = float(os.environ.get("FUZZ_SECONDS", "60"))
FIRST_SEED = 1
FUNCTIONS = 120


def test_random_functions_agree_with_python3(tmp_path):
    (tmp_path / "casegen.py").write_text(CASEGEN.read_text())
    deadline = time.monotonic() + BUDGET
    seed, report = FIRST_SEED, []
    while True:
        source = generate(seed, FUNCTIONS)
        module = tmp_path / f"fuzz_{seed}.py"
        module.write_text(source)
        differences = compare(module)
        if differences:
            names = differing_functions(source, differences) or narrow(source, module)
            report.append(f"seed {seed}, functions {names} (rerun: python3 "
                          f"tests/fuzz/fuzzgen.py --seed {seed} --functions {FUNCTIONS} --save):\n"
                          + "\n".join(differences[:5]))
        seed += 1
        if time.monotonic() >= deadline:
            break
    assert seed > FIRST_SEED
    assert not report, "\n\n".join(report)
