"""Compiles every function of the JIT test cases (tests/jit/cases) once and prints the
compile times pyopt-python recorded, in milliseconds, as a JSON list.

Run by benches/bench.py under `pyopt-python -X pyopt.jit_threshold=0`.
"""

import contextlib
import importlib.util
import io
import json
import pathlib
import sys

import python_optimizer

CASES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "jit" / "cases"
sys.path.insert(0, str(CASES))

for path in sorted(CASES.glob("*.py")):
    if path.name == "casegen.py":
        continue
    spec = importlib.util.spec_from_file_location(f"case_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for entry in module.CASES:
        function, calls = entry[0], entry[1]
        if calls:
            with contextlib.suppress(BaseException), contextlib.redirect_stdout(io.StringIO()):
                function(*calls[0])

times = [compile["milliseconds"] for stats in python_optimizer.jit_stats()
         for compile in stats["compiles"]]
print(json.dumps(times))
