"""Builtins (abs, min, max, int, float, bool, round, divmod, len) and the math module,
with domain and range errors raised exactly where python3 raises them."""

import math

from casegen import FLOATS, INTS, make

CASES = []

INT_ARGS = [(v,) for v in INTS]
FLOAT_ARGS = [(v,) for v in FLOATS] + [(0.5,), (-0.5,), (1.0,), (-1.0,), (2.5,), (1e-7,)]
MIXED_ARGS = INT_ARGS + FLOAT_ARGS

for name, kinds in [
    ("sqrt", "if"), ("exp", "if"), ("log", "if"), ("log2", "if"), ("log10", "if"),
    ("sin", "if"), ("cos", "if"), ("tan", "if"), ("asin", "f"), ("acos", "f"),
    ("atan", "if"), ("sinh", "f"), ("cosh", "f"), ("tanh", "f"), ("floor", "if"),
    ("ceil", "if"), ("trunc", "if"), ("fabs", "if"), ("isnan", "f"), ("isinf", "f"),
    ("isfinite", "if"),
]:
    for kind in kinds:
        function = make(f"math_{name}_{kind}", f"def f(x):\n    return math.{name}(x)\n")
        CASES.append((function, INT_ARGS if kind == "i" else FLOAT_ARGS))

# sin and cos of one argument become one sincos call: the same bits, the same errors.
CASES.append((make("math_sin_cos_pair", "def f(x):\n"
                   "    return math.sin(x), math.cos(x), math.sin(x) * math.cos(x)\n"),
              FLOAT_ARGS + [(1e22,), (-3.0e300,), (5e-324,), (math.pi,), (1.5707963267948966,)]))

PAIRS = [(a, b) for a in [0.0, -0.0, 1.5, -2.0, 3.0, float("inf"), float("nan")]
         for b in [0.0, -0.0, 2.0, -0.5, float("inf"), float("-inf"), float("nan")]]
for name in ["atan2", "copysign", "pow", "fmod", "hypot"]:
    function = make(f"math_{name}_ff", f"def f(x, y):\n    return math.{name}(x, y)\n")
    CASES.append((function, PAIRS))
CASES.append((make("math_log_base", "def f(x, b):\n    return math.log(x, b)\n"),
              [(8.0, 2.0), (100.0, 10.0), (5.0, 1.0), (0.0, 2.0), (-1.0, 2.0), (7.5, 0.5)]))
CASES.append((make("math_hypot3", "def f(x, y, z):\n    return math.hypot(x, y, z)\n"),
              [(1.0, 2.0, 2.0), (3e200, 4e200, 0.0), (float("inf"), float("nan"), 1.0)]))
CASES.append((make("math_gcd", "def f(a, b):\n    return math.gcd(a, b)\n"),
              [(12, 18), (-4, 6), (0, 0), (-(2**63), 0), (-(2**63), -(2**63)), (7, 13)]))
CASES.append((make("math_consts", "def f(x):\n"
                   "    return x * math.pi + math.e - math.tau / 2 + (math.inf if x > 5 else 0.0)\n"),
              [(1.0,), (10.0,), (-0.0,)]))
CASES.append((make("math_nan_const", "def f(x):\n    return math.isnan(math.nan + x)\n"),
              [(1.0,), (-5.0,)]))
CASES.append((make("math_from_import", "def f(x):\n    return sqrt(x) + floor(x)\n",
                   sqrt=math.sqrt, floor=math.floor), [(2.25,), (-1.0,), (9.0,)]))

for name, source, args in [
    ("abs_int", "abs(x)", INT_ARGS),
    ("abs_float", "abs(x)", FLOAT_ARGS),
    ("abs_bool", "abs(x)", [(True,), (False,)]),
    ("int_float", "int(x)", FLOAT_ARGS + [(9.3e18,), (-9.2e18,), (1e19,)]),
    ("int_int", "int(x)", INT_ARGS),
    ("int_bool", "int(x)", [(True,)]),
    ("float_int", "float(x)", INT_ARGS),
    ("float_float", "float(x)", FLOAT_ARGS),
    ("bool_int", "bool(x)", INT_ARGS),
    ("bool_float", "bool(x)", FLOAT_ARGS),
    ("round_float", "round(x)", FLOAT_ARGS + [(2.5,), (3.5,), (-2.5,), (0.49999999999999994,)]),
    ("round_int", "round(x)", INT_ARGS),
]:
    CASES.append((make(name, f"def f(x):\n    return {source}\n"), args))

CASES.append((make("round_digits", "def f(x, n):\n    return round(x, n)\n"),
              [(2.675, 2), (1.005, 2), (123.456, -1), (0.5, 0), (float("inf"), 2), (1e300, -400)]))
CASES.append((make("round_int_digits", "def f(x, n):\n    return round(x, n)\n"),
              [(1234, -2), (1250, -2), (-1350, -2), (7, 3), (2**62, -1)]))
CASES.append((make("divmod_int", "def f(a, b):\n    return divmod(a, b)\n"),
              [(7, 2), (-7, 2), (7, -2), (-7, -2), (5, 0), (-(2**63), -1)]))
CASES.append((make("divmod_float", "def f(a, b):\n    return divmod(a, b)\n"),
              [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (1.0, 0.0), (-0.0, 3.0), (float("inf"), 2.0)]))
CASES.append((make("min_int", "def f(a, b, c):\n    return min(a, b, c)\n"),
              [(3, 1, 2), (1, 1, 0), (-(2**63), 0, 5)]))
CASES.append((make("max_float", "def f(a, b):\n    return max(a, b)\n"),
              [(1.0, 2.0), (float("nan"), 1.0), (1.0, float("nan")), (0.0, -0.0), (-0.0, 0.0)]))
CASES.append((make("min_float", "def f(a, b):\n    return min(a, b)\n"),
              [(1.0, 2.0), (float("nan"), 1.0), (1.0, float("nan")), (0.0, -0.0), (-0.0, 0.0)]))
CASES.append((make("max_bool", "def f(a, b):\n    return max(a, b)\n"),
              [(True, False), (False, False)]))
# The result's type depends on the values (int or float): left to the interpreter.
CASES.append((make("max_mixed", "def f(a, b):\n    return max(a, b)\n"),
              [(1, 2.0), (3, 2.0), (2, 2.0)], {"expect": "refused"}))
CASES.append((make("len_tuple", "def f(a, b):\n    return len((a, b, a)) + a\n"),
              [(1, 2), (2**63 - 2, 0)]))
CASES.append((make("math_loop", "def f(n):\n"
                   "    s = 0.0\n"
                   "    for i in range(1, n):\n"
                   "        x = i * 0.01\n"
                   "        s += math.sin(x) * math.cos(x) + math.sqrt(x) - math.exp(-x)\n"
                   "    return s\n"), [(1000,), (1,)]))
CASES.append((make("math_domain_in_loop", "def f(n):\n"
                   "    s = 0.0\n"
                   "    for i in range(n):\n"
                   "        s += math.log(10.0 - i)\n"
                   "    return s\n"), [(5,), (12,)]))
