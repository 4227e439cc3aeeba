"""A differential fuzzer for the JIT: random functions in the supported subset, run
under python3 and under pyopt-python compiling on the first call; any difference in a
result, an exception or a traceback is a bug.

    python3 tests/fuzz/fuzzgen.py --seed 1 --functions 200          # one round
    python3 tests/fuzz/fuzzgen.py --seed 1 --minutes 120            # rounds until then
    python3 tests/fuzz/fuzzgen.py --seed 7 --functions 5 --show     # print the source

Each round writes a case module (the format of `tests/jit/cases/`) to a scratch
directory and runs `tests/jit/runner.py` on it under both interpreters. A round that
differs is narrowed down to the functions whose transcripts differ, and those are
appended to `tests/jit/cases/fuzz_found.py` (with `--save`), which the differential
suite runs from then on: every mismatch the fuzzer finds becomes a regression test.

The functions mix ints, floats and bools near the edges (64-bit overflow, zeros of
both signs, inf, nan, domain errors), branches, `for` over `range()` and `while` loops
(always bounded), `break`/`continue`, tuples, `math`, `random` (seeded before every
call), module constants and calls between the generated functions. About a quarter take
a list or an `array.array` too (SEQUENCE_ITEMS): items read by index (in and out of
range) and by iteration, `len`, items stored (ints out of an array's range, floats into
int arrays), numbers appended to lists (not while the list is iterated), the sequence
returned; lists sometimes hold an item of another type or an int beyond 60 bits. Lists
are also made in the function (`[a, b]`, `[x] * n`, `copy()`), searched (`x in a`) and
changed by `pop`, `insert`, `extend`, `reverse`, `clear` and `sort`.
"""

import argparse
import math
import pathlib
import random
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
from pyopt_testing import PYOPT, PYTHON3, clean_environment  # noqa: E402

RUNNER = TESTS / "jit" / "runner.py"
FOUND = TESTS / "jit" / "cases" / "fuzz_found.py"

INT_VALUES = [0, 1, -1, 2, -3, 7, 255, -(2**31), 2**53 + 1, 2**62, -(2**62), 2**63 - 1,
              -(2**63), 3037000499, -3037000500]
FLOAT_VALUES = [0.0, -0.0, 0.5, -1.5, 3.0, 1e16, -2.5e-8, 1e308, -1e308, 5e-324,
                math.inf, -math.inf, math.nan, 2.0**63, -(2.0**63)]
BOOL_VALUES = [False, True]
VALUES = {"int": INT_VALUES, "float": FLOAT_VALUES, "bool": BOOL_VALUES}

INT_BINARY = ["+", "-", "*", "//", "%", "&", "|", "^"]
FLOAT_BINARY = ["+", "-", "*", "/", "//", "%"]
COMPARISONS = ["<", "<=", "==", "!=", ">", ">="]
MATH_UNARY = ["sqrt", "exp", "log", "log2", "log10", "sin", "cos", "tan", "asin", "acos",
              "atan", "sinh", "cosh", "tanh", "fabs"]
MATH_BINARY = ["atan2", "copysign", "pow", "hypot", "fmod"]
MATH_PREDICATES = ["isnan", "isinf", "isfinite"]

# Sequence parameter types and the type of their items.
SEQUENCE_ITEMS = {"list_float": "float", "list_int": "int", "array_d": "float",
                  "array_f": "float", "array_q": "int", "array_i": "int", "array_b": "int",
                  "array_B": "int"}
ARRAY_INT_RANGES = {"array_q": (-(2**63), 2**63 - 1), "array_i": (-(2**31), 2**31 - 1),
                    "array_b": (-128, 127), "array_B": (0, 255)}


def sequence_value(rng, ty):
    """Source of an argument of sequence type `ty`."""
    length = rng.choice([0, 1, 2, 3, 5, 8])
    if ty.startswith("list"):
        pool = FLOAT_VALUES if ty == "list_float" else INT_VALUES + [3, -2, 7]
        items = [repr(rng.choice(pool)) for _ in range(length)]
        if items and rng.random() < 0.15:
            items[rng.randrange(len(items))] = rng.choice(["2**70", "'x'", "1", "0.5", "None"])
        items = [{"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(i, i) for i in items]
        return "[" + ", ".join(items) + "]"
    code = ty[len("array_"):]
    if code in "df":
        items = [repr(rng.choice(FLOAT_VALUES[:10] + [0.25, -7.0])) for _ in range(length)]
    else:
        low, high = ARRAY_INT_RANGES[ty]
        items = [repr(rng.choice([low, high, 0, 1, -1 if low < 0 else 2, 100 % (high + 1)]))
                 for _ in range(length)]
    return f"array({code!r}, [{', '.join(items)}])"


def clamp(expression):
    """Keeps an int assigned in a loop within 62 bits when the next iteration starts,
    so values cannot grow without bound (python3 would spend hours on the big ints);
    the expression itself still overflows 64 bits freely."""
    return f"max(-4611686018427387904, min(4611686018427387904, {expression}))"


class Generator:
    """Builds one function's source; `types` maps each variable to int/float/bool."""

    def __init__(self, rng, name, params, callees, constants):
        self.rng = rng
        self.name = name
        self.params = params
        self.callees = callees
        self.constants = constants
        self.types = dict(params)
        self.lines = []
        self.counter = 0
        self.uses_random = False
        self.iterating = set()  # sequences a loop runs over here (no appends to them)

    # -- expressions ------------------------------------------------------------------

    def variable(self, ty=None):
        names = [n for n, t in self.types.items()
                 if (ty is None and t not in SEQUENCE_ITEMS) or t == ty]
        return self.rng.choice(names) if names else None

    def sequence(self, item=None):
        """A sequence parameter (whose items are `item`, if given), or None."""
        names = [n for n, t in self.types.items()
                 if t in SEQUENCE_ITEMS and (item is None or SEQUENCE_ITEMS[t] == item)]
        return self.rng.choice(names) if names else None

    def index(self, sequence):
        rng = self.rng
        if rng.random() < 0.5:
            return f"{self.expression('int', 2)} % max(1, len({sequence}))"
        return repr(rng.choice([0, 1, -1, 2, -3, 5]))

    def literal(self, ty):
        rng = self.rng
        if ty == "int":
            return repr(rng.choice(INT_VALUES + [0, 1, 2, 3, 10, -4]))
        if ty == "float":
            value = rng.choice(FLOAT_VALUES + [0.25, 2.0, -7.0])
            if math.isnan(value):
                return "math.nan"
            if math.isinf(value):
                return "math.inf" if value > 0 else "-math.inf"
            return repr(value)
        return rng.choice(["True", "False"])

    def leaf(self, ty):
        rng = self.rng
        if ty in ("int", "float") and self.constants and rng.random() < 0.1:
            name, value = rng.choice(self.constants)
            if type(value).__name__ == ty:
                return name
        if ty in ("int", "float") and rng.random() < 0.15:
            sequence = self.sequence(ty)
            if sequence is not None:
                return f"{sequence}[{self.index(sequence)}]"
            sequence = self.sequence() if ty == "int" else None
            if sequence is not None:
                return f"len({sequence})"
        name = self.variable(ty)
        if name is not None and rng.random() < 0.7:
            return name
        return self.literal(ty)

    def expression(self, ty, depth=0):
        rng = self.rng
        if depth >= 3 or rng.random() < 0.3:
            return self.leaf(ty)
        if ty == "int":
            return self.int_expression(depth + 1)
        if ty == "float":
            return self.float_expression(depth + 1)
        return self.bool_expression(depth + 1)

    def int_expression(self, depth):
        rng = self.rng
        choice = rng.random()
        e = lambda t="int": self.expression(t, depth)  # noqa: E731
        if choice < 0.45:
            return f"({e()} {rng.choice(INT_BINARY)} {e(rng.choice(['int', 'int', 'bool']))})"
        if choice < 0.52:
            return f"({e()} {rng.choice(['<<', '>>'])} {rng.choice([0, 1, 3, 31, 62, 63, 64, 70])})"
        if choice < 0.57:
            return f"({e()} ** {rng.choice([0, 1, 2, 3, 5])})"
        if choice < 0.62:
            return f"({rng.choice(['-', '~', '+'])}{e()})"
        if choice < 0.67:
            return f"abs({e()})"
        if choice < 0.74:
            return f"{rng.choice(['min', 'max'])}({e()}, {e()})"
        if choice < 0.80:
            return f"int({e('float')})"
        if choice < 0.84:
            return f"round({e('float')})"
        if choice < 0.88:
            return f"math.{rng.choice(['floor', 'ceil', 'trunc'])}({e('float')})"
        if choice < 0.91:
            return f"math.gcd({e()}, {e()})"
        if choice < 0.94 and self.callees:
            return self.call("int", depth) or e()
        if choice < 0.97:
            return f"divmod({e()}, {e()})[{rng.choice([0, 1])}]"
        return f"({e()} if {self.expression('bool', depth)} else {e()})"

    def float_expression(self, depth):
        rng = self.rng
        choice = rng.random()
        e = lambda t="float": self.expression(t, depth)  # noqa: E731
        if choice < 0.40:
            left, right = rng.choice([("float", "float"), ("float", "int"), ("int", "float")])
            return f"({e(left)} {rng.choice(FLOAT_BINARY)} {e(right)})"
        if choice < 0.45:
            return f"({e('int')} / {e('int')})"
        if choice < 0.50:
            return f"({e()} ** {rng.choice(['2', '0.5', '-1', '3', '2.5'])})"
        if choice < 0.62:
            return f"math.{rng.choice(MATH_UNARY)}({e()})"
        if choice < 0.70:
            return f"math.{rng.choice(MATH_BINARY)}({e()}, {e()})"
        if choice < 0.74:
            return f"float({e('int')})"
        if choice < 0.78:
            return f"({rng.choice(['-', '+'])}{e()})"
        if choice < 0.82:
            return f"abs({e()})"
        if choice < 0.86:
            return f"{rng.choice(['min', 'max'])}({e()}, {e()})"
        if choice < 0.89:
            return f"round({e()}, {rng.choice([0, 1, 2, -1])})"
        if choice < 0.92:
            self.uses_random = True
            return rng.choice(["random.random()", f"random.uniform({e()}, {e()})"])
        if choice < 0.95 and self.callees:
            return self.call("float", depth) or e()
        if choice < 0.97:
            return rng.choice(["math.pi", "math.e", "math.tau", "math.inf", "math.nan"])
        return f"({e()} if {self.expression('bool', depth)} else {e()})"

    def bool_expression(self, depth):
        rng = self.rng
        choice = rng.random()
        if choice < 0.45:
            ty = rng.choice(["int", "float", "int"])
            other = rng.choice([ty, "int", "float"])
            parts = [self.expression(ty, depth), rng.choice(COMPARISONS),
                     self.expression(other, depth)]
            if rng.random() < 0.2:
                parts += [rng.choice(COMPARISONS), self.expression(other, depth)]
            return "(" + " ".join(parts) + ")"
        if choice < 0.60:
            op = rng.choice(["and", "or"])
            return f"({self.expression('bool', depth)} {op} {self.expression('bool', depth)})"
        if choice < 0.70:
            return f"(not {self.expression('bool', depth)})"
        if choice < 0.80:
            return f"math.{rng.choice(MATH_PREDICATES)}({self.expression('float', depth)})"
        if choice < 0.90:
            return f"bool({self.expression(rng.choice(['int', 'float']), depth)})"
        return f"({self.variable() or 'None'} is None)"

    def call(self, ty, depth):
        matching = [c for c in self.callees if c[2] == ty]
        if not matching:
            return None
        name, params, _ = self.rng.choice(matching)
        args = ", ".join(self.expression(t, depth + 1) for _, t in params)
        return f"{name}({args})"

    # -- statements -------------------------------------------------------------------

    def emit(self, indent, text):
        self.lines.append("    " * indent + text)

    def fresh(self):
        self.counter += 1
        return f"v{self.counter}"

    def block(self, indent, size, loop_depth):
        for _ in range(size):
            self.statement(indent, loop_depth)

    def statement(self, indent, loop_depth):
        rng = self.rng
        lists = [n for n, t in self.types.items()
                 if t.startswith("list") and n not in self.iterating]
        if lists and rng.random() < 0.08:
            sequence = rng.choice(lists)
            item = SEQUENCE_ITEMS[self.types[sequence]]
            value = self.expression(rng.choice([item, item, "int", "float", "bool"]))
            self.emit(indent, f"{sequence}.append({value})")
            return
        if rng.random() < 0.06:
            return self.list_statement(indent, lists)
        choice = rng.random()
        if choice < 0.35 or len(self.types) < 2:
            ty = rng.choice(["int", "float", "int", "bool"])
            existing = self.variable(ty) if rng.random() < 0.5 else None
            name = existing or self.fresh()
            value = self.expression(ty)
            self.emit(indent, f"{name} = {clamp(value) if ty == 'int' and loop_depth else value}")
            self.types[name] = ty
        elif choice < 0.50:
            ty = rng.choice(["int", "float"])
            name = self.variable(ty)
            if name is None:
                return self.statement(indent, loop_depth)
            ops = INT_BINARY if ty == "int" else ["+", "-", "*"]
            op, value = rng.choice(ops), self.expression(ty)
            if ty == "int" and loop_depth:
                self.emit(indent, f"{name} = {clamp(f'{name} {op} {value}')}")
            else:
                self.emit(indent, f"{name} {op}= {value}")
        elif choice < 0.65 and indent < 4:
            self.emit(indent, f"if {self.expression('bool')}:")
            self.block(indent + 1, rng.randint(1, 3), loop_depth)
            if rng.random() < 0.3:
                self.emit(indent, f"elif {self.expression('bool')}:")
                self.block(indent + 1, rng.randint(1, 2), loop_depth)
            if rng.random() < 0.5:
                self.emit(indent, "else:")
                self.block(indent + 1, rng.randint(1, 2), loop_depth)
        elif choice < 0.75 and indent < 4 and loop_depth < 2:
            counter = self.fresh()
            bounds = rng.choice([
                f"range(max(-3, min({self.expression('int')}, 25)))",
                f"range({rng.randint(-2, 3)}, max(-5, min({self.expression('int')}, 20)))",
                f"range(min({self.expression('int')}, 30), {rng.randint(-10, 5)}, "
                f"{rng.choice([-1, -2, -3])})",
                f"range({rng.randint(0, 3)}, {rng.randint(0, 12)}, {rng.choice([1, 2, 5])})",
            ])
            self.emit(indent, f"for {counter} in {bounds}:")
            self.types[counter] = "int"
            self.loop_body(indent + 1, loop_depth + 1)
        elif choice < 0.82 and indent < 4 and loop_depth < 2:
            # The counter is not in `types`: nothing else may assign it.
            self.counter += 1
            counter = f"w{self.counter}"
            self.emit(indent, f"{counter} = 0")
            self.emit(indent, f"while {counter} < {rng.randint(0, 15)}:")
            self.emit(indent + 1, f"{counter} += 1")
            self.loop_body(indent + 1, loop_depth + 1)
        elif choice < 0.85 and self.sequence() is not None:
            sequence = self.sequence()
            item = SEQUENCE_ITEMS[self.types[sequence]]
            if rng.random() < 0.5 and indent < 4 and loop_depth < 2:
                name = self.fresh()
                self.emit(indent, f"for {name} in {sequence}:")
                self.types[name] = item
                self.iterating.add(sequence)
                self.loop_body(indent + 1, loop_depth + 1)
                self.iterating.discard(sequence)
            else:
                value = self.expression(rng.choice([item, item, "int", "float", "bool"]))
                self.emit(indent, f"{sequence}[{self.index(sequence)}] = {value}")
        elif choice < 0.88:
            a, b = self.variable(), self.variable()
            if a and b and a != b and self.types[a] == self.types[b]:
                self.emit(indent, f"{a}, {b} = {b}, {a}")
            else:
                name = self.fresh()
                index = rng.choice([0, 1, -1])
                self.emit(indent, f"{name} = ({self.expression('int')}, "
                                  f"{self.expression('float')})[{index}]")
                self.types[name] = "int" if index == 0 else "float"
        elif choice < 0.92 and indent > 1:
            self.emit(indent, f"if {self.expression('bool')}:")
            self.emit(indent + 1, rng.choice(["return " + self.result_expression(), "pass"]))
        else:
            name = self.variable("float") or self.fresh()
            self.emit(indent, f"{name} = {self.expression('float')}")
            self.types[name] = "float"

    def list_statement(self, indent, lists):
        """Lists made in the function (`[...]`, `[x] * n`, `copy()`), `x in list`, and the
        other list methods: pop, insert, extend, reverse, clear, sort (not on a list a
        loop runs over,
        which could then run forever or skip items in ways not worth the noise)."""
        rng = self.rng
        choice = rng.random()
        if choice < 0.35 or not lists:
            ty = rng.choice(["list_int", "list_float"])
            item = SEQUENCE_ITEMS[ty]
            name = self.fresh()
            if rng.random() < 0.6:
                items = ", ".join(self.expression(item) for _ in range(rng.randint(0, 3)))
                self.emit(indent, f"{name} = [{items}]")
            else:
                count = f"max(-2, min({self.expression('int')}, 6))"
                self.emit(indent, f"{name} = [{self.expression(item)}] * {count}")
            self.types[name] = ty
            return
        sequence = rng.choice(lists)
        ty = self.types[sequence]
        item = SEQUENCE_ITEMS[ty]
        if choice < 0.55:
            name = self.fresh()
            index = "" if rng.random() < 0.5 else self.index(sequence)
            self.emit(indent, f"{name} = {sequence}.pop({index})")
            self.types[name] = item
        elif choice < 0.7:
            value = self.expression(rng.choice([item, item, "int", "float", "bool"]))
            self.emit(indent, f"{sequence}.insert({self.index(sequence)}, {value})")
        elif choice < 0.8:
            self.emit(indent, f"{sequence}.extend({rng.choice(lists)})")
        elif choice < 0.86:
            self.emit(indent, f"{sequence}.{rng.choice(['reverse', 'clear', 'sort'])}()")
        elif choice < 0.93:
            name = self.fresh()
            value = self.expression(rng.choice(["int", "bool"]))
            self.emit(indent, f"{name} = {value} {rng.choice(['in', 'not in'])} {sequence}")
            self.types[name] = "bool"
        else:
            name = self.fresh()
            self.emit(indent, f"{name} = {sequence}.copy()")
            self.types[name] = ty

    def loop_body(self, indent, loop_depth):
        rng = self.rng
        self.block(indent, rng.randint(1, 3), loop_depth)
        if rng.random() < 0.3:
            self.emit(indent, f"if {self.expression('bool')}:")
            self.emit(indent + 1, rng.choice(["break", "continue"]))
            self.block(indent, 1, loop_depth)

    def result_expression(self):
        rng = self.rng
        sequence = self.sequence()
        if sequence is not None and rng.random() < 0.3:
            return sequence
        names = [n for n, t in self.types.items() if t not in SEQUENCE_ITEMS]
        if rng.random() < 0.3 and len(names) >= 2:
            picked = rng.sample(names, min(len(names), rng.randint(2, 3)))
            return "(" + ", ".join(picked) + ")"
        # (Only sequences so far: the parameters and lists made here.)
        return rng.choice(names) if names else (sequence or "None")

    def function(self):
        # Variables assigned only in some paths would be unbound in others: give every
        # local a value up front, as the parameters have.
        body_start = len(self.lines)
        self.block(1, self.rng.randint(2, 7), 0)
        body = self.lines[body_start:]
        # (Loop variables over sequences get their item type's literal.)
        prologue = [f"    {n} = " + ("[]" if t.startswith("list") else
                                       self.literal(SEQUENCE_ITEMS.get(t, t)))
                    for n, t in self.types.items() if n not in dict(self.params)]
        params = ", ".join(n for n, _ in self.params)
        returned = self.result_expression()
        return "\n".join([f"def f({params}):", *prologue, *body, f"    return {returned}"]) + "\n"


def value_source(value):
    """Source text for a number argument (nan and the infinities by name)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value)


def generate(seed, count):
    """Source of a case module with `count` random functions."""
    rng = random.Random(seed)
    constants = [("K_INT", rng.choice([3, -7, 2**40, 2**62])),
                 ("K_FLOAT", rng.choice([0.5, -3.25, 1e300, 1e-300]))]
    out = [f'"""Generated by tests/fuzz/fuzzgen.py, seed {seed}."""',
           "", "import math", "import random", "from array import array", "",
           "from casegen import make", "",
           *[f"{name} = {value!r}" for name, value in constants],
           "nan = math.nan", "inf = math.inf", "", "",
           "def seed():", "    random.seed(12345)", "", "", "CASES = []"]
    callees = []
    for index in range(count):
        name = f"fz{seed}_{index}"
        params = [(f"p{i}", rng.choice(["int", "int", "float", "bool"]))
                  for i in range(rng.randint(0, 3))]
        if rng.random() < 0.25:
            params.append((f"p{len(params)}", rng.choice(list(SEQUENCE_ITEMS))))
        generator = Generator(rng, name, params, callees[-4:], constants)
        source = generator.function()
        calls = []
        for _ in range(6 if params else 1):
            values = [sequence_value(rng, t) if t in SEQUENCE_ITEMS
                      else value_source(rng.choice(VALUES[t])) for _, t in params]
            calls.append("(" + "".join(v + ", " for v in values) + ")")
        args = "[" + ", ".join(calls) + "]"
        names = ", ".join(f"{c[0]}={c[0]}" for c in callees[-4:] if c[0] in source)
        names = ", ".join(filter(None, [names, "K_INT=K_INT, K_FLOAT=K_FLOAT"]))
        options = '{"before": seed}' if generator.uses_random else "{}"
        out += [f"{name} = make({name!r}, {source!r}, {names})",
                f"CASES.append(({name}, {args}, {options}))"]
        # Callees must return a known type: only simple single-type returns qualify
        # (and only number parameters: callers pass expressions).
        returned = source.rstrip().rsplit("return ", 1)[-1]
        numbers_only = all(t not in SEQUENCE_ITEMS for _, t in params)
        if returned in generator.types and numbers_only and \
                generator.types[returned] not in SEQUENCE_ITEMS:
            callees.append((name, params, generator.types[returned]))
    return "\n".join(out) + "\n"


def run_runner(executable, args, module):
    try:
        done = subprocess.run([executable, *args, str(RUNNER), str(module)],
                              capture_output=True, text=True, errors="replace",
                              env=clean_environment(), timeout=300)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after 300 s"
    return done.returncode, done.stdout, done.stderr


def compare(module):
    """Runs `module` under both interpreters; returns the differing transcript lines."""
    ref_code, ref_out, ref_err = run_runner(PYTHON3, [], module)
    opt_code, opt_out, opt_err = run_runner(PYOPT, ["-X", "pyopt.jit_threshold=0"], module)
    if ref_code != 0:
        # A generator bug, not a JIT one: say so and go on.
        print(f"python3 failed on {module.name} ({ref_code}), round skipped:\n{ref_err[-2000:]}")
        return []
    if opt_code != ref_code:
        return [f"pyopt-python exited with {opt_code}:\n{opt_err[-3000:]}"]
    ref_lines = ref_out.splitlines()
    opt_lines = opt_out.splitlines()
    differing = [f"python3: {a}\npyopt:   {b}" for a, b in zip(ref_lines, opt_lines) if a != b]
    if len(ref_lines) != len(opt_lines):
        differing.append(f"{len(ref_lines)} lines from python3, {len(opt_lines)} from pyopt")
    return differing


def differing_functions(source, differences):
    names = set()
    for difference in differences:
        for line in difference.splitlines():
            word = line.split(":", 1)[-1].strip().split("(", 1)[0]
            if word.startswith("fz"):
                names.add(word)
    return sorted(names)


def with_cases(source, names):
    """`source` with only the CASES entries of the functions in `names`."""
    kept = []
    for line in source.splitlines():
        if line.startswith("CASES.append(("):
            name = line[len("CASES.append(("):].split(",", 1)[0]
            if name not in names:
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def narrow(source, module):
    """The generated functions whose calls alone make the round differ (for a crash,
    where the transcript names no function), by halving."""
    names = [line[len("CASES.append(("):].split(",", 1)[0]
             for line in source.splitlines() if line.startswith("CASES.append((")]
    probe = module.with_name(module.stem + "_narrow.py")

    def fails(subset):
        probe.write_text(with_cases(source, set(subset)))
        return bool(compare(probe))

    while len(names) > 1:
        half = len(names) // 2
        if fails(names[:half]):
            names = names[:half]
        elif fails(names[half:]):
            names = names[half:]
        else:
            break
    return names


def save(source, names):
    """Appends the generated functions `names` (with their arguments) to FOUND."""
    lines = source.splitlines()
    definitions = {line.split(" = make(", 1)[0]: i for i, line in enumerate(lines)
                   if " = make(" in line}
    # The functions they call come along (defined, not called).
    wanted, pending = set(), list(names)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        arguments = lines[definitions[name]].rsplit("', ", 1)[-1]
        pending += [a.split("=", 1)[0].strip() for a in arguments.split(",")
                    if a.strip().startswith("fz")]
    keep = []
    for name in sorted(wanted, key=definitions.get):
        keep.append(lines[definitions[name]])
        if name in names:
            # Compared, whether compiled or not (what the JIT takes may change).
            call = lines[definitions[name] + 1]
            head, rest = call[:call.rindex("{") + 1], call[call.rindex("{") + 1:]
            keep.append(head + '"expect": "any"' + ("" if rest.startswith("}") else ", ")
                        + rest)
    if not FOUND.exists():
        FOUND.write_text('"""Functions on which the fuzzer (tests/fuzz/fuzzgen.py) once found '
                         'python3 and\npyopt-python to differ; kept as regression tests."""\n\n'
                         "import math\nimport random\n\nfrom casegen import make\n\n"
                         "K_INT = 3\nK_FLOAT = 0.5\nnan = math.nan\ninf = math.inf\n\n\n"
                         "def seed():\n    random.seed(12345)\n\n\nCASES = []\n")
    header = [l for l in lines if l.startswith(("K_INT =", "K_FLOAT ="))]
    with FOUND.open("a") as handle:
        handle.write("\n" + "\n".join(header + keep) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--functions", type=int, default=100, help="functions per round")
    parser.add_argument("--minutes", type=float, default=0,
                        help="keep running rounds (seed, seed+1, ...) for this long")
    parser.add_argument("--show", action="store_true", help="print the round's source")
    parser.add_argument("--save", action="store_true",
                        help=f"append differing functions to {FOUND.relative_to(TESTS.parent)}")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.minutes * 60
    seed, failures, rounds = args.seed, 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        while True:
            source = generate(seed, args.functions)
            if args.show:
                print(source)
            module = pathlib.Path(scratch) / f"fuzz_{seed}.py"
            module.write_text(source)
            (pathlib.Path(scratch) / "casegen.py").write_text(
                (TESTS / "jit" / "cases" / "casegen.py").read_text())
            differences = compare(module)
            rounds += 1
            if differences:
                failures += 1
                names = differing_functions(source, differences) or narrow(source, module)
                print(f"seed {seed}: {len(differences)} differing lines in {names}")
                for difference in differences[:10]:
                    print(difference)
                if args.save and names:
                    save(source, names)
            if time.monotonic() >= deadline:
                break
            seed += 1
    print(f"{rounds} rounds of {args.functions} functions (seeds {args.seed}..{seed}): "
          f"{failures} with differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
