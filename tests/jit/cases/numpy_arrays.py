"""numpy float64 arrays inside compiled code (issue 5): items read and written in place
by one int per dimension (negative indices, IndexError as numpy raises it; 1-, 2- and
3-d arrays; Fortran order, strided views and slices passed in), `len`, `shape`,
`size`, `ndim`, iteration over 1-d arrays; items are numpy float64 scalars with numpy's
arithmetic and comparisons (numpy bools), and numpy's floating-point warnings come from
the interpreter. Stores into read-only arrays raise numpy's ValueError."""

import warnings

import numpy as np

warnings.simplefilter("always")  # every numpy warning is printed, so each is compared


def item(a, i):
    return a[i]


def item2(a, i, j):
    return a[i, j]


def item3(a, i, j, k):
    return a[i, j, k]


def scaled_copy(a, out, k):
    for i in range(len(a)):
        out[i] = a[i] * k + 1.0
    return out


def stencil(a, out):
    n, m = a.shape
    for i in range(1, n - 1):
        for j in range(1, m - 1):
            out[i, j] = (a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1]) * 0.25
    return out


def positives(a):
    count = 0
    for x in a:
        if x > 0.0:
            count += 1
    return count


def weighted(a, b):
    s = 0
    for i, (x, y) in enumerate(zip(a, b)):
        if x * y > i:
            s += 1
    return s


def compare(a, i):
    return a[i] > 1.0


def compare_int(a, k):
    # numpy converts the int to float64 first (2**53 + 1 becomes 2**53).
    return a[0] == k, a[0] < k, k >= a[0]


def shape_info(a):
    return a.size, a.ndim, len(a)


def ratios(a, b):
    out = 0
    for i in range(len(a)):
        r = a[i] / b[i]
        if r > 1.0:
            out += 1
    return out


def overflow(a):
    return a[0] * a[0]


def to_float(a):
    return float(a[0]) + abs(a[1])


def store(a, i, v):
    a[i] = v
    return a


def total(a):
    # `s` is a Python float before the loop and a numpy float64 after one item.
    s = 0.0
    for i in range(len(a)):
        s += a[i]
    return s


def largest_below(a, limit):
    best = -1.0
    for x in a:
        if x < limit and x > best:
            best = x
    return best, best > 0


def last_flag(a):
    hit = False
    for x in a:
        hit = x > 1.0
    return hit


def mean_of_squares(a):
    s = 0.0
    for x in a:
        s = s + x * x
    return s / len(a)


def distance_from_zero(a):
    s = 0.0
    for x in a:
        s -= x
    return abs(s)


def total_and_count(a):
    s = 0.0
    n = 0
    for x in a:
        s += x
        n += 1
    t = (s, n)
    return t


def dot(a, b):
    # numpy's own float64 dot function (BLAS's ddot), bit for bit.
    return np.dot(a, b)


def projections(rows, v):
    n, m = rows.shape
    total = 0.0
    for i in range(n):
        total += np.dot(v, v) * i
    return total


def dot_pairs(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(3 * n)
    b = rng.standard_normal(3 * n)
    return [(a[:n], b[:n]), (a[::2][:n], b[::3][:n]), (a[::-1][:n], b[:n]), (a[:n], b[::-2][:n])]


def f64(values):
    return np.array(values, dtype=np.float64)


READ_ONLY = f64([1.0, 2.0])
READ_ONLY.flags.writeable = False
GRID = np.arange(20.0).reshape(4, 5)


def read_only(a):
    a.flags.writeable = False
    return a


CASES = [
    (item, [(f64([1.5, 2.5]), 0), (f64([1.5, 2.5]), -1), (f64([1.5]), 1), (f64([1.5]), -2),
            (f64([1.0, 2.0, 3.0, 4.0])[::2], 1), (f64([1.0, 2.0, 3.0, 4.0])[::-1], 0)]),
    (item2, [(GRID, 1, 2), (GRID, -1, -1), (GRID, 4, 0), (np.asfortranarray(GRID), 3, 1),
             (GRID[1:, ::2], 0, 1), (GRID.T, 2, 3)]),
    (item3, [(np.arange(24.0).reshape(2, 3, 4), 1, 2, 3), (np.arange(24.0).reshape(2, 3, 4), 0, 3, 0)]),
    (scaled_copy, [(f64([1.0, 2.0]), np.zeros(2), 2.0), (f64([1.0]), np.zeros(1), 3),
                   (f64([1.0, 2.0]), np.zeros(1), 2.0)]),
    (stencil, [(GRID, np.zeros((4, 5))), (np.asfortranarray(GRID), np.zeros((4, 5))),
               # An output narrower or shorter than the input: IndexError partway
               # (the fast copy's entry test fails), and a read-only output.
               (GRID, np.zeros((4, 3))), (GRID, np.zeros((3, 5))),
               (GRID, np.zeros((4, 5))[:, ::-1]), (GRID, read_only(np.zeros((4, 5))))]),
    (positives, [(f64([1.0, -2.0, 3.0, np.nan]),), (f64([]),), (GRID[0],)]),
    (compare, [(f64([0.5, 2.0]), 1), (f64([np.nan]), 0)]),
    (compare_int, [(f64([2.0**53]), 2**53 + 1), (f64([1.5]), 1), (f64([1e300]), 2**63 - 1)]),
    (weighted, [(f64([1.0, 2.0, 3.0]), f64([0.5, 1.5, 1.0])), (f64([1.0]), [2.0, 3.0])]),
    (shape_info, [(GRID,), (f64([1.0, 2.0, 3.0]),), (np.zeros((2, 3, 4)),)]),
    (ratios, [(f64([1.0, 4.0]), f64([2.0, 1.0])), (f64([1.0]), f64([0.0])), (f64([0.0]), f64([0.0]))]),
    (overflow, [(f64([1e200]),), (f64([3.0]),), (f64([np.inf]),)]),
    (to_float, [(f64([1.5, -2.5]),)]),
    (total, [(f64([1.0, 2.0, 3.5]),), (f64([]),), (f64([1e308, 1e308]),), (f64([np.inf, -np.inf]),),
             (GRID[:, 1],)]),
    (largest_below, [(f64([0.5, 3.0, 2.0]), 2.5), (f64([5.0]), 1.0), (f64([]), 1.0)]),
    (last_flag, [(f64([0.5, 3.0]),), (f64([]),), (f64([2.0, np.nan]),)]),
    (total_and_count, [(f64([1.0, 2.0]),), (f64([]),)]),
    (distance_from_zero, [(f64([1.0, 2.0]),), (f64([]),)]),
    (mean_of_squares, [(f64([1.0, 2.0]),), (f64([]),)]),
    (dot, [pair for n in (0, 1, 3, 8, 33, 1000, 100001) for pair in dot_pairs(n)]
     + [(f64([1.0, 2.0]), f64([1.0])), (f64([1e308, 1e308]), f64([10.0, 10.0])),
        (f64([np.inf]), f64([0.0])), (f64([np.nan, 1.0]), f64([1.0, 2.0]))]),
    (projections, [(np.zeros((3, 2)), f64([3.0, 4.0])), (np.zeros((0, 2)), f64([1.0]))]),
    (store, [(f64([1.0, 2.0]), 0, 5.5), (f64([1.0, 2.0]), 1, 7), (f64([1.0]), 0, True),
             (f64([1.0]), 3, 1.0), (READ_ONLY, 0, 1.0), (f64([1.0]), 0, np.float64(2.5))]),
]
