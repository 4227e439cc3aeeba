"""Exceptions raised where and as python3 raises them (same tracebacks), through chains
of compiled calls; deoptimization in the middle of loops with side effects that must
not run twice; the recursion limit."""

import math
import random


def divide(a, b):
    return a // b


def middle(a, b):
    return divide(a, b) + 1


def outer(a, b):
    total = 0
    for i in range(3):
        total += middle(a + i, b)
    return total


def float_divide(x, y):
    return x / y


def modulo_zero(a):
    return a % 0


def domain_in_loop(n):
    total = 0.0
    for i in range(n):
        total += math.sqrt(5.0 - i)
    return total


def recurse(n):
    return recurse(n + 1) + 1


def deep(n):
    if n == 0:
        return 0
    return deep(n - 1) + 1


def unbound(flag):
    if flag:
        x = 1
    return x + 1


def missing_name(x):
    return x + not_defined_anywhere


def zero_step(n):
    s = 0
    for i in range(0, n, 0):
        s += i
    return s


def empty_randint(a):
    return random.randint(a, a - 1)


def overflow_mid_loop(n):
    # Draws a random number every iteration and overflows 64 bits part-way: the draws
    # before the hand-over must not be repeated after it.
    x = 1
    draws = 0.0
    for i in range(n):
        draws += random.random()
        x *= 3
    return x, draws


def overflow_then_error(n):
    x = 2**62
    for i in range(n):
        x += 2**62
        if i == 3:
            return x // (i - 3)
    return x


def nested_error(x):
    return helper_raises(x) * 2


def helper_raises(x):
    return math.log(x) + 1.0


def seed():
    random.seed(7)


def state():
    return random.random()


def recursion_limit():
    import sys
    return sys.getrecursionlimit()


CASES = [
    (outer, [(10, 3), (10, 0), (-(2**63), -1)]),
    (float_divide, [(1.0, 0.0), (0.0, 0.0), (1.0, -0.0), (5, 2.5)]),
    (modulo_zero, [(5,)], {"expect": "any"}),
    (domain_in_loop, [(3,), (10,)]),
    (recurse, [(0,)], {"expect": "refused"}),
    (deep, [(100,), (900,), (2000,)]),
    (unbound, [(True,), (False,)]),
    (missing_name, [(1,)], {"expect": "refused"}),
    (zero_step, [(5,)], {"expect": "any"}),
    (empty_randint, [(5,)], {"before": seed, "after": state, "expect": "any"}),
    (overflow_mid_loop, [(10,), (45,), (100,)], {"before": seed, "after": state}),
    (overflow_then_error, [(2,), (10,)]),
    (nested_error, [(1.0,), (0.0,), (-1.0,)]),
]
