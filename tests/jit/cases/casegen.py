"""Shared values and a factory for generated test functions.

Generated functions get their own code object and a file name of their own
(`<jit-case name>`), so each is compiled separately and tracebacks name it.
"""

import math
import random

INTS = [0, 1, -1, 3, -7, 2**31, -(2**31), 2**53 + 1, 2**62, 2**63 - 1, -(2**63)]
SMALL_INTS = [-3, -2, -1, 0, 1, 2, 3, 5, 10]
EXPONENTS = [-2, -1, 0, 1, 2, 3, 10, 62, 63]
SHIFTS = [-1, 0, 1, 3, 62, 63, 64, 65, 100]
FLOATS = [0.0, -0.0, 1.5, -2.5, 3.0, 1e308, 5e-324, float("inf"), float("-inf"), float("nan")]
BOOLS = [False, True]
VALUES = {"int": INTS, "float": FLOATS, "bool": BOOLS}
OPERATOR_NAMES = {
    "+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "%": "mod",
    "**": "pow", "<<": "lshift", ">>": "rshift", "&": "and", "|": "or", "^": "xor",
    "<": "lt", "<=": "le", "==": "eq", "!=": "ne", ">": "gt", ">=": "ge",
}


def make(name, source, **names):
    """Defines the function in `source` (named `f`) under `name`."""
    namespace = {"math": math, "random": random, **names}
    exec(compile(source, f"<jit-case {name}>", "exec"), namespace)
    function = namespace["f"]
    function.__name__ = function.__qualname__ = name
    return function
