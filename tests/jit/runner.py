"""Runs the JIT test cases of one module and prints a transcript to compare.

    python3 tests/jit/runner.py tests/jit/cases/arith.py
    pyopt-python -X pyopt.jit_threshold=0 tests/jit/runner.py CASES.py --report out.json

A case module defines ``CASES``: a list of ``(function, [args, ...])`` or
``(function, [args, ...], options)``. Each call's result (its repr and exact type) or
exception (with the formatted traceback) is printed; the transcript must be identical
under python3 and pyopt-python. Options: ``{"expect": "refused"}`` for functions the JIT
must not compile, ``{"expect": "any"}`` for functions only compared (the fuzzer's), ``{"before": callable}`` run (interpreted) before each call, e.g. to
seed ``random``. With ``--report``, what the JIT did for each function is written as JSON
(under pyopt-python only).
"""

import importlib.util
import json
import os
import sys
import traceback


def load(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("jit_case_module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["jit_case_module"] = module
    spec.loader.exec_module(module)
    return module


def describe(value):
    return f"{type(value).__name__} {value!r}"


def main():
    path = sys.argv[1]
    report = sys.argv[sys.argv.index("--report") + 1] if "--report" in sys.argv else None
    module = load(path)
    functions = []
    for entry in module.CASES:
        function, calls = entry[0], entry[1]
        options = entry[2] if len(entry) > 2 else {}
        functions.append((function, options))
        for args in calls:
            if "before" in options:
                options["before"]()
            label = f"{function.__qualname__}{args!r}"
            try:
                result = function(*args)
            except BaseException as exc:  # noqa: BLE001 - every exception is compared
                lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
                print(f"{label} raised:\n" + "".join(lines).rstrip())
            else:
                print(f"{label} -> {describe(result)}")
            if "after" in options:
                print(f"  after: {options['after']()!r}")
    if report:
        import python_optimizer

        entries = []
        for function, options in functions:
            info = python_optimizer.jit_info(function) or {}
            entries.append({
                "function": function.__qualname__,
                "expect": options.get("expect", "compiled"),
                "specializations": info.get("specializations", []),
                "refusals": info.get("refusals", []),
                "deopts": info.get("deopts", 0),
            })
        with open(report, "w") as handle:
            json.dump(entries, handle, indent=1)


if __name__ == "__main__":
    main()
