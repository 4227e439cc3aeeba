"""Lists and numpy arrays made inside compiled code (issue 5): `[...]` of numbers,
`[x] * n`, lists appended to lists, `numpy.zeros`/`ones`/`empty`/`arange` with shapes
and dtypes, returned alone or in tuples, read and written in the same call. numpy's
errors (negative dimensions, a zero step) and lists too long hand over to the
interpreter, which raises them; a call making many objects hands over too."""

import numpy as np


def squares(n):
    out = []
    for i in range(n):
        out.append(i * i)
    return out


def halves(n):
    out = []
    for i in range(n):
        out.append(i / 2)
    return out


def literal(x, y):
    return [x, y, x + y, x * y]


def flags(a, b):
    return [a < b, a == b, a > b]


def mixed(x):
    return [1, x, 2.5, True]


def read_back(n):
    xs = [0.5, 1.5, 2.5]
    for i in range(n):
        xs.append(i * 0.25)
    s = 0.0
    for x in xs:
        s += x
    return s, len(xs)


def read_back_ints(n):
    xs = []
    for i in range(n):
        xs.append(i)
    t = 0
    for x in xs:
        t += x
    return t


def repeated(n):
    row = [0.0] * n
    for i in range(n):
        row[i] = i * 1.5
    return row


def repeated_left(n):
    return n * [1, 2]


def repeated_negative(n):
    return [7] * (n - 10)


def too_long(n):
    return [0] * n


def table(n, m):
    rows = []
    for i in range(n):
        row = [0] * m
        for j in range(m):
            row[j] = i * j
        rows.append(row)
    return rows


def table_sum(n):
    rows = []
    for i in range(n):
        rows.append([i, i + 1])
    s = 0
    for row in rows:
        s += row[0] * row[1]
    return s


def zeros(n):
    a = np.zeros(n)
    for i in range(n):
        a[i] = i * i
    return a


def zeros_2d(n, m):
    g = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            g[i, j] = i - j
    return g


def zeros_3d(n):
    g = np.zeros((n, n, 2), dtype=np.int64)
    for i in range(n):
        g[i, i, 1] = i
    return g


def ones(n):
    return np.ones(n)


def ones_typed(n):
    return np.ones((n, 2), dtype=np.int8), np.ones(n, np.float32), np.ones(n, dtype=bool)


def empty_filled(n):
    a = np.empty(n, dtype=np.int32)
    for i in range(n):
        a[i] = i - 3
    return a


def builtin_dtypes(n):
    return np.zeros(n, dtype=int), np.zeros(n, dtype=float), np.zeros(n, float), np.zeros(n, None)


def uint8_counts(n):
    h = np.zeros(4, np.uint8)
    for i in range(n):
        h[i % 4] += 1
    return h


def arange_ints(n):
    return np.arange(n), np.arange(2, n), np.arange(n, 0, -2)


def arange_floats(n):
    return np.arange(0.5, n, 0.75), np.arange(n, dtype=np.float64), np.arange(0, 1, 0.1)


def arange_sum(n):
    a = np.arange(n)
    s = 0
    for i in range(len(a)):
        s += a[i]
    return s


def negative_shape(n):
    return np.zeros(n - 5)


def negative_2d(n):
    return np.ones((2, n - 5))


def zero_step(n):
    return np.arange(0, n, 0)


def many_arrays(n):
    t = 0.0
    for i in range(n):
        v = np.zeros(2)
        v[1] = i
        t += v[0] + v[1]
    return t


def many_lists(n):
    t = 0
    for i in range(n):
        pair = [i, 2 * i]
        t += pair[1] - pair[0]
    return t


def make_and_pass(n):
    a = np.zeros(n)
    fill(a, 2.5)
    return a.sum()


def fill(a, x):
    for i in range(len(a)):
        a[i] = x


def same_list_twice(n):
    a = [0] * n
    return a, a


def nested_literal(n):
    row = [0.5] * n
    rows = [row, [n, 1], []]
    rows[1][0] = 7
    return rows, len(rows[0])


def order_keyword(n):
    return np.zeros(n, order="C")


CASES = [
    (squares, [(0,), (5,), (3,)]),
    (halves, [(4,), (1,)]),
    (literal, [(1, 2), (1.5, -2.0), (True, False), (2**62, 2)]),
    (flags, [(1, 2), (2.5, 2.5)]),
    (mixed, [(3,), (0.5,)]),
    (read_back, [(3,), (0,)]),
    (read_back_ints, [(5,), (0,)]),
    (repeated, [(4,), (0,), (-3,)]),
    (repeated_left, [(3,), (0,)]),
    (repeated_negative, [(12,), (3,)]),
    (too_long, [(3,), (2**62,)]),
    (table, [(3, 4), (0, 2), (2, 0)]),
    (table_sum, [(4,), (0,)]),
    (zeros, [(5,), (0,)]),
    (zeros_2d, [(2, 3), (0, 3)]),
    (zeros_3d, [(3,)]),
    (ones, [(3,), (0,)]),
    (ones_typed, [(2,)]),
    (empty_filled, [(5,)]),
    (builtin_dtypes, [(2,)]),
    (uint8_counts, [(10,), (1030,)]),
    (arange_ints, [(6,), (0,), (-2,)]),
    (arange_floats, [(3,), (1,)]),
    (arange_sum, [(10,), (0,)]),
    (negative_shape, [(7,), (2,)]),
    (negative_2d, [(7,), (2,)]),
    (zero_step, [(3,)]),
    (many_arrays, [(10,), (1000,)]),
    (many_lists, [(10,), (1000,)]),
    (make_and_pass, [(4,)]),
    (fill, [(np.zeros(2), 1.0)]),
    (same_list_twice, [(2,)]),
    (nested_literal, [(2,), (0,)]),
    (order_keyword, [(2,)], {"expect": "refused"}),
]
