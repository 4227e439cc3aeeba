"""Iterators compiled code runs itself (issue 5): `for` over tuples of one type,
`enumerate()` (with a start), `zip()` of up to four ranges, lists, arrays and tuples,
`reversed()` of ranges, lists and arrays, nested in each other; items of another type
and changes to a list while it is iterated hand over to the interpreter with the
iterator where it was."""

import array


def over_tuple(x):
    s = 0.0
    for v in (x, x * 2.0, -x):
        s += v
    return s


def tuple_local(a, b, c):
    t = (a, b, c)
    best = 0
    for v in t:
        if v > best:
            best = v
    return best


def enumerated(a):
    s = 0.0
    for i, x in enumerate(a):
        s += i * x
    return s


def enumerated_from(a, start):
    last = -1
    for i, x in enumerate(a, start):
        last = i
    return last


def zipped(a, b):
    s = 0.0
    for x, y in zip(a, b):
        s += x * y
    return s


def zipped_three(n, a, b):
    t = 0
    for i, x, y in zip(range(n), a, b):
        t += i + x - y
    return t


def backwards(n):
    out = 0
    for i in reversed(range(n)):
        out = out * 3 + i
    return out


def backwards_step(start, stop, step):
    out = 0
    for i in reversed(range(start, stop, step)):
        out = out * 7 + i
    return out


def backwards_list(a):
    s = 0.0
    k = 1.0
    for x in reversed(a):
        s += x * k
        k += 1.0
    return s


def enumerate_zip(a, b):
    s = 0.0
    for i, (x, y) in enumerate(zip(a, b)):
        s += i * (x - y)
    return s


def enumerate_reversed(a):
    s = 0
    for i, x in enumerate(reversed(a)):
        s += i * x
    return s


def writes_while_zipping(a, b):
    n = 0
    for x, y in zip(a, b):
        b[0] = x + y
        n += 1
    return n, b[0]


def stops_early(a):
    for i, x in enumerate(a):
        if x < 0:
            return i
    return -1


def arr(code, values):
    return array.array(code, values)


CASES = [
    (over_tuple, [(1.5,), (-0.0,), (float("nan"),)]),
    (tuple_local, [(1, 5, 3), (-1, -2, -3), (2**62, 2**62, 1)]),
    (enumerated, [([1.0, 2.0, 3.0],), ([],), (arr("d", [0.5, 0.25]),), ([1.0, "x"],)]),
    (enumerated_from, [([1.0, 2.0], 10), ([1.0], -5), ([], 3), ([1.0, 2.0], 2**63 - 2)]),
    (zipped, [([1.0, 2.0, 3.0], [4.0, 5.0]), ([], [1.0]), (arr("d", [1.5]), [2.0, 3.0]),
              ([1.0, 2.0], arr("f", [0.5, 0.25]))]),
    (zipped_three, [(5, [1, 2, 3], [3, 2, 1, 0]), (0, [1], [1]), (3, arr("B", [1, 2, 3]), [1, 1, 1])]),
    (backwards, [(5,), (0,), (1,), (-3,)]),
    (backwards_step, [(0, 10, 3), (10, 0, -2), (5, 5, 1), (-2**62, 2**62, 2**61), (0, 5, 2)]),
    (backwards_list, [([1.0, 2.0, 3.0],), ([],), (arr("d", [2.0, 4.0]),), ([1.0, 2],)]),
    (enumerate_zip, [([1.0, 2.0], [0.5, 0.5]), ([1.0], [])]),
    (enumerate_reversed, [([1, 2, 3],), (arr("i", [5, -5]),)]),
    (writes_while_zipping, [([1.0, 2.0], [3.0, 4.0]), ([1.0], [2.0, 5.0])]),
    (stops_early, [([1.0, 2.0, -1.0],), ([1.0],), (arr("b", [3, -1]),)]),
]
