"""Functions on which the fuzzer (tests/fuzz/fuzzgen.py) once found python3 and
pyopt-python to differ; kept as regression tests."""

import math
import random

from casegen import make

K_INT = 3
K_FLOAT = 0.5
nan = math.nan
inf = math.inf


def seed():
    random.seed(12345)


CASES = []

K_INT = -7
K_FLOAT = 1e+300
fz101_67 = make('fz101_67', 'def f():\n    v1 = -math.inf\n    v2 = 4611686018427387904\n    v3 = True\n    v4 = 2\n    v5 = 7\n    v6 = 5e-324\n    v1 = math.inf\n    v2 = (abs(-9223372036854775808) - -4611686018427387904)\n    v3 = bool(v1)\n    for v4 in range(min(-4611686018427387904, 30), 5, -1):\n        v5 = max(-4611686018427387904, min(4611686018427387904, (~abs(v2))))\n        if v3:\n            continue\n        v6 = (v4 % (float(3) ** 2))\n    return v2\n', K_INT=K_INT, K_FLOAT=K_FLOAT)
fz101_74 = make('fz101_74', 'def f(p0, p1, p2):\n    v1 = 0.0\n    v2 = 2\n    v1 = (((7 * p0) * (p0 % p0)) - -7.0)\n    v2 = p0\n    p0 = (v2 if p2 else ((10 ** 3) % 7))\n    p0 = fz101_67()\n    v1 = ((p0 ** 3) // (int(v1) % 3.0))\n    return p1\n', fz101_67=fz101_67, K_INT=K_INT, K_FLOAT=K_FLOAT)
CASES.append((fz101_74, [(7, False, False), (-3037000500, True, False), (-3, False, True), (4611686018427387904, False, False), (2, False, True), (4611686018427387904, True, False)], {"expect": "any"}))
