"""Tuples (build, unpack, index, concatenate, return), module globals and constants
(rebinding one invalidates the compiled code), and calls between compiled functions,
recursion included."""

N = 10
SCALE = 2.5
OFFSET = (1, 2.0)


def make_pair(a, b):
    return (a, b)


def swap(a, b):
    a, b = b, a
    return a, b


def nested_tuple(x):
    return ((x, x + 1), (x * 2.0, None), True)


def unpack_sum(t):
    a, b, c = t
    return a + b + c


def index_const(t):
    return t[0] * t[-1] + t[1]


def index_var(t, i):
    return t[i]


def concat(a, b):
    return (a,) + (b, a) + ()


def tuple_len(a):
    t = (a, a, a)
    return len(t)


def pass_tuple(p):
    return make_pair(p[1], p[0])


def divmod_unpack(a, b):
    q, r = divmod(a, b)
    return q * b + r == a


def use_globals(x):
    return x * N + SCALE


def use_tuple_global(x):
    return OFFSET[0] + x * OFFSET[1]


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def ffib(x):
    if x < 2.0:
        return x
    return ffib(x - 1.0) + ffib(x - 2.0)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


def helper_square(x):
    return x * x


def sum_squares(n):
    s = 0
    for i in range(n):
        s += helper_square(i)
    return s


def helper_overflows(x):
    return x * x * x


def calls_overflowing(n):
    total = 0
    for i in range(n):
        total += helper_overflows(2**20 * (i + 1))
    return total


def tuple_from_callee(x):
    a, b = make_pair(x, x * 2)
    return a + b


def rebind_scale(value):
    global SCALE
    SCALE = value


def rebind_n(value):
    global N
    N = value


def restore():
    rebind_n(10)
    rebind_scale(2.5)
    return (N, SCALE)


CASES = [
    (make_pair, [(1, 2), (1.5, None), (True, (1, 2))]),
    (swap, [(1, 2.5), (-0.0, 3)]),
    (nested_tuple, [(3,), (2**63 - 1,)]),
    (unpack_sum, [((1, 2, 3),), ((1.5, 2, True),), ((1, 2),), ((2**63 - 1, 1, 0),)]),
    (index_const, [((2, 3, 4),), ((2.5, 1, 0.5),)]),
    (index_var, [((1, 2, 3), 0), ((1, 2, 3), -1), ((1, 2, 3), 3), ((1, 2, 3), -4), ((1.5, 2.5), True)]),
    (concat, [(1, 2.0), (None, True)]),
    (tuple_len, [(1,), (0.5,)]),
    (pass_tuple, [((1, 2),), ((1.5, None),)]),
    (divmod_unpack, [(17, 5), (-17, 5), (17, 0)]),
    (use_globals, [(2,), (3,)], {"after": lambda: (N, SCALE)}),
    (rebind_n, [(20,)], {"expect": "refused"}),
    (use_globals, [(2,), (3,)]),
    (rebind_scale, [(-1.5,)], {"expect": "refused"}),
    (use_globals, [(2,), (3,)]),
    (rebind_n, [(2.5,)], {"expect": "refused"}),
    (use_globals, [(2,)]),
    (restore, [()], {"expect": "refused"}),
    (use_tuple_global, [(3,), (0.5,)]),
    (fib, [(20,), (0,), (1,), (25,)]),
    (ffib, [(15.0,), (0.5,)]),
    (is_even, [(10,), (7,), (0,)]),
    (ackermann, [(2, 3), (2, 10)]),
    (sum_squares, [(100,), (0,)]),
    (calls_overflowing, [(3,), (5000,)]),
    (tuple_from_callee, [(4,), (2**62,)]),
]
