"""Every arithmetic, bitwise, comparison and unary operator on every type pair, with
edge values: zeros of both signs, NaN, infinities, ints at and beyond 64 bits (these
deoptimize), division by zero, negative floor division and modulo."""

from casegen import (EXPONENTS, FLOATS, INTS, OPERATOR_NAMES, SHIFTS, SMALL_INTS,
                     VALUES, make)

PAIRS = [("int", "int"), ("int", "float"), ("float", "int"), ("float", "float"),
         ("bool", "int"), ("bool", "bool"), ("float", "bool")]

CASES = []


def operands(op, left, right):
    lefts, rights = VALUES[left], VALUES[right]
    if op == "**" and left == "int":
        lefts = SMALL_INTS + [2**31]
    if op == "**" and right == "int":
        rights = EXPONENTS
    if op in ("<<", ">>") and right == "int":
        rights = SHIFTS
    return [(a, b) for a in lefts for b in rights]


for op in ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]:
    for left, right in PAIRS:
        name = f"{OPERATOR_NAMES[op]}_{left}_{right}"
        function = make(name, f"def f(a, b):\n    return a {op} b\n")
        # Bitwise operators on floats always raise TypeError: nothing to compile.
        raises = op in ("<<", ">>", "&", "|", "^") and "float" in (left, right)
        CASES.append((function, operands(op, left, right),
                      {"expect": "refused"} if raises else {}))

# In-place forms compile to the same BINARY_OP family; use them inside a loop.
for op in ["+", "-", "*", "//", "%", "&", "|", "^"]:
    name = f"inplace_{OPERATOR_NAMES[op]}_int"
    function = make(name, f"def f(a, b, n):\n    for _ in range(n):\n        a {op}= b\n    return a\n")
    CASES.append((function, [(7, 3, 5), (-7, 3, 4), (2**40, 2**20, 3), (1, -3, 10)]))

COMPARE_INTS = INTS + [2**53, -(2**53) - 1]
COMPARE_FLOATS = FLOATS + [float(2**53), 9.2e18, -9.3e18, 9.223372036854775807e18]
COMPARE_VALUES = {"int": COMPARE_INTS, "float": COMPARE_FLOATS, "bool": [False, True]}
for op in ["<", "<=", "==", "!=", ">", ">="]:
    for left, right in [("int", "int"), ("int", "float"), ("float", "int"),
                        ("float", "float"), ("bool", "float")]:
        name = f"{OPERATOR_NAMES[op]}_{left}_{right}"
        function = make(name, f"def f(a, b):\n    return a {op} b\n")
        CASES.append((function, [(a, b) for a in COMPARE_VALUES[left]
                                 for b in COMPARE_VALUES[right]]))

for source_op, name in [("a < b < c", "chain_lt"), ("a <= b == c", "chain_le_eq"),
                        ("a != b != c", "chain_ne"), ("a < b > c >= 0", "chain_mixed")]:
    function = make(name, f"def f(a, b, c):\n    return {source_op}\n")
    CASES.append((function, [(1, 2, 3), (3, 2, 1), (1, 1, 1), (0, 5, 0), (-1, 0, 0)]))
    function = make(name + "_float", f"def f(a, b, c):\n    return {source_op}\n")
    CASES.append((function, [(1.0, 2.5, 3.0), (float("nan"), 1.0, 2.0), (0.0, -0.0, 0.0)]))

for op, op_name in [("-", "neg"), ("+", "pos"), ("~", "invert"), ("not ", "not")]:
    for kind in ["int", "float", "bool"]:
        function = make(f"{op_name}_{kind}", f"def f(a):\n    return {op}a\n")
        raises = op == "~" and kind == "float"
        CASES.append((function, [(v,) for v in VALUES[kind]],
                      {"expect": "refused"} if raises else {}))

# Multiplication by a constant checks the range of the other operand instead of the
# overflow flag: the edges of that range, on both sides, in both operand orders.
for constant in [2, 3, 7, 1000, -1, -3]:
    edges = sorted({v for c in ([constant] if constant > 0 else [])
                    for v in (2**63 // c, 2**63 // c + 1, -(2**63) // c, -(2**63) // c - 1,
                              -((2**63 - 1) // c), -((2**63 - 1) // c) - 1)}
                   | {0, 1, -1, 2**62, -(2**62), 2**63 - 1, -(2**63)})
    for order, source in [("right", f"a * {constant}"), ("left", f"{constant} * a")]:
        name = f"mul_const_{order}_{str(constant).replace('-', 'm')}"
        function = make(name, f"def f(a):\n    return {source} + 1\n")
        CASES.append((function, [(v,) for v in edges]))
