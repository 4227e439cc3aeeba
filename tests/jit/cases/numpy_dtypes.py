"""numpy arrays of float32, int64, int32, int8, uint8 and bool inside compiled code
(issue 5, items 1 and 3): items read as their numpy scalars and written with numpy's
casts; the scalars' arithmetic and comparisons follow numpy 2's promotion (Python
numbers are "weak"); integer overflow, division by zero and float32 overflow give
numpy's warnings (from the interpreter), out-of-range Python ints numpy's
OverflowError, and float32 rounds as numpy rounds."""

import types
import warnings

import numpy as np

warnings.simplefilter("always")  # every numpy warning is printed, so each is compared

DTYPES = [np.float32, np.int64, np.int32, np.int8, np.uint8, np.bool_]


def arr(values, dtype):
    return np.array(values, dtype=dtype)


def item(a, i):
    return a[i]


def item2(a, i, j):
    return a[i, j]


def item3(a, i, j, k):
    return a[i, j, k]


def running_total(a):
    # The accumulator is the array's own scalar type from the first item on.
    s = a[0]
    for i in range(1, len(a)):
        s = s + a[i]
    return s


def add_weak(a, k):
    return a[0] + k, k - a[0], a[0] * k


def true_divide(a, b):
    return a[0] / b[0], a[0] / 2


def floor_and_mod(a, b):
    return a[0] // b[0], a[0] % b[0]


def mixed(a, b):
    return a[0] + b[0]


def compare(a, x):
    return a[0] < x, a[0] == x, x >= a[0]


def compare_items(a, b):
    return a[0] < b[0], a[0] != b[0]


def negate(a):
    return -a[0], +a[0], abs(a[0])


def conversions(a):
    return int(a[0]), float(a[0]), bool(a[0])


def truth(a):
    n = 0
    for x in a:
        if x:
            n += 1
    return n


def store(a, i, v):
    a[i] = v
    return a


def doubled(a):
    for i in range(len(a)):
        a[i] = a[i] * 2
    return a


def gather(values, indices):
    # Indices read from an integer array index another array and a list.
    s = 0.0
    for k in range(len(indices)):
        s += values[indices[k]]
    return s


def gather_list(values, indices):
    n = 0
    for k in range(len(indices)):
        n += values[indices[k]]
    return n


def histogram(image, counts):
    rows, cols = image.shape
    for i in range(rows):
        for j in range(cols):
            counts[image[i, j]] += 1
    return counts


def invert(image):
    rows, cols = image.shape
    for i in range(rows):
        for j in range(cols):
            image[i, j] = 255 - image[i, j]
    return image


def scalar_arguments(x, y):
    return x + y, x * 2, x < y


def threshold(a, limit, out):
    for i in range(len(a)):
        out[i] = a[i] > limit
    return out


def f32_sum(a):
    s = np.float32(0.0)
    for x in a:
        s = s + x
    return s


def divmod_items(a, b, q, r):
    # Floor division and remainder in the arrays' dtype (float32 in float32 arithmetic,
    # as numpy's npy_divmod), with weak Python numbers too; numpy's warnings (a zero
    # divisor, an overflowing quotient) from the interpreter.
    for i in range(len(a)):
        q[i] = a[i] // b[i]
        r[i] = a[i] % b[i]
    return q, r, a[0] // 3, a[0] % 0.3


def divmod_pairs(dtype):
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(200) * 1e3, rng.integers(-50, 50, 40) * 0.25,
                        [-0.0, 0.0, 7.0, -7.0, 1e-30, 3e38, 1.5]])
    y = np.concatenate([rng.standard_normal(200) * 10, rng.integers(1, 9, 40) * -0.5,
                        [5.0, -5.0, 2.0, -2.0, 1e30, 1e-38, 0.1]])
    return x.astype(dtype), y.astype(dtype), np.zeros(len(x), dtype), np.zeros(len(x), dtype)


def per_dtype(function, calls, options=None):
    """Cases of `function` split by the dtype of their first array, each dtype calling
    a copy with its own code object (the JIT keeps a few specializations per code
    object, so every dtype gets compiled); `options` by dtype key (like "f4")."""
    groups = {}
    for args in calls:
        first = next((a for a in args if isinstance(a, np.ndarray)), None)
        key = first.dtype.str if first is not None else "scalars"
        groups.setdefault(key, []).append(args)
    cases = []
    for key, group in groups.items():
        short = key.replace(">", "be_").strip("<|=")
        name = f"{function.__name__}_{short}"
        code = function.__code__.replace(co_name=name)
        copy = types.FunctionType(code, function.__globals__, name)
        copy.__qualname__ = name
        cases.append((copy, group, (options or {}).get(short, {})))
    return cases


def int_total(a):
    # `s` is a Python int before the loop and numpy's integer scalar after one item.
    s = 0
    for x in a:
        s += x
    return s


def int_mean(a):
    s = 0
    for x in a:
        s = s + x * 1
    return s / 4


def int_signs(a):
    s = 0
    for x in a:
        s = -s + x
    return abs(s)


def int_compare(a, limit):
    s = 0
    for x in a:
        s += x
    return s == limit


def int_shifted(a, k):
    s = 0
    for x in a:
        s += x
        s += k
    return s


def int_floor(a, k):
    s = 0
    for x in a:
        s = (s + x) // k
    return s % 7


def int_as_index(a, values):
    s = 0
    for x in a:
        s += x
    return values[s]


def int_half(a):
    s = 0
    for x in a:
        s += x
    return s * 0.5


def int_below(a):
    s = 0
    for x in a:
        s += x
    return s < 1.5


def int_pair(a):
    s = 0
    for x in a:
        s += x
    return s, s


def array_sum(a):
    # numpy's own pairwise summation for floats (bit for bit), int64 sums for ints.
    return a.sum()


def array_sum_nd(a):
    # 2-d and 3-d: numpy reduces C- and Fortran-contiguous arrays in memory order;
    # other layouts hand over (numpy splits them into runs).
    return a.sum()


def extremes(a):
    # a.max() and a.min() in the array's dtype: numpy's own maximum and minimum loops
    # for floats (which of 0.0 and -0.0, and which NaN, wins is theirs), exact for
    # ints and bools; no items is numpy's ValueError.
    return a.max(), a.min()


def means(a):
    # Float arrays: numpy's sum divided by the count in float64 (back to float32 for
    # float32); an empty array warns (the interpreter's). Int arrays are not compiled.
    return a.mean(), np.mean(a)


def np_extremes(a):
    # The function forms compute what the methods do for an ndarray.
    return np.max(a), np.min(a), np.amax(a), np.amin(a)


def extreme_views(n):
    rng = np.random.default_rng(n + 11)
    base = np.round(rng.standard_normal((n, n + 2)) * 3) / 2
    views = [base, base[0], base[:, 1], base.T, base[:, ::2]]
    special = [np.array([0.0, -0.0, 0.0]), np.array([-0.0, 0.0]), np.array([1.0, np.nan, 2.0]),
               np.array([np.nan, -np.nan]), np.array([-np.inf, np.inf, 3.0])]
    views += special if n == 3 else []
    views += [v.astype(d) for v in views[:3] for d in (np.float32, np.int64, np.int32, np.int8,
                                                       np.uint8, np.bool_)]
    return [(v,) for v in views]


def np_sum(a):
    # numpy.sum of an ndarray computes what a.sum() does.
    return np.sum(a)


def sum_views_nd(n):
    rng = np.random.default_rng(n + 7)
    base = rng.standard_normal((n, n + 3, 2)) * 1e6
    flat = base[:, :, 0]
    views = [flat, flat.copy(), flat.T, np.asfortranarray(flat), flat[:, ::2], flat[::-1],
             base, np.asfortranarray(base), base[:, 1:, :], base.transpose(1, 0, 2)]
    views += [v.astype(d) for v in views[1:4] for d in (np.float32, np.int64, np.int32, np.int8, np.bool_)]
    return [(v,) for v in views]


def normalized_total(a):
    s = 0.0
    for x in a:
        s += x / a.sum()
    return s


def sum_views(n):
    rng = np.random.default_rng(n)
    base = rng.standard_normal(3 * n) * 1e3
    views = [base[:n], base[::3][:n], base[::-1][:n], base[::-2][:n]]
    views += [v.astype(d) for v in views[:2] for d in (np.float32, np.int64, np.int32, np.int8, np.bool_)]
    return [(v,) for v in views]


def float_total(a):
    # `s` is a Python float before the loop and numpy's float32 after one item: numpy
    # 2 makes the Python float weak, so the sum is float32's.
    s = 0.0
    for x in a:
        s += x
    return s


def float_mix(a, k):
    s = 0.5
    for x in a:
        s = s * k + x
    return s, s > 1.0


def float_compare(a, limit):
    s = 0.0
    for x in a:
        s += x
    return s < limit


def float_scaled(a):
    s = 0.0
    for x in a:
        s -= x * 0.5
    return -s * 3.0 + abs(s)


def casts(x):
    # numpy's scalar types called on a number cast it as numpy does.
    return (np.float64(x), np.float32(x), np.int64(x), np.int32(x), np.int8(x), np.uint8(x),
            np.bool_(x))


def zeros():
    return np.float32(), np.int64(), np.int8(), np.bool_(), np.float64()


F32 = arr([0.1, 0.2, 3.4028235e38, -2.5], np.float32)
I8 = arr([100, -128, 127, 3], np.int8)
U8 = arr([200, 0, 3, 255], np.uint8)
I32 = arr([2**31 - 1, -7, 2, 0], np.int32)
I64 = arr([2**62, -7, 2, -(2**63)], np.int64)
BOOLS = arr([True, False, True], np.bool_)
READ_ONLY = arr([1, 2], np.int32)
READ_ONLY.flags.writeable = False
GRID8 = np.arange(12, dtype=np.uint8).reshape(3, 4)

SPLIT_CASES = [
    (item, [(a, i) for a in (F32, I8, U8, I32, I64, BOOLS) for i in (0, -1, 3, 4)]),
    (item2, [(GRID8, 1, 2), (np.asfortranarray(GRID8), 2, -1), (GRID8[:, ::2], 2, 1), (GRID8.T, 3, 2),
             (np.arange(12, dtype=np.int32).reshape(3, 4), 5, 0)]),
    (item3, [(np.arange(24, dtype=np.int8).reshape(2, 3, 4), 1, 2, 3),
             (np.arange(24, dtype=np.float32).reshape(2, 3, 4), -1, 0, 1)]),
    (running_total, [(arr([1, 2, 3], d),) for d in DTYPES]
     + [(arr([100, 27, 1], np.int8),), (arr([200, 100], np.uint8),), (arr([2**62, 2**62], np.int64),),
        (arr([3e38, 3e38], np.float32),), (arr([0.1, 0.2, 0.3], np.float32),),
        (arr([np.inf, -np.inf], np.float32),), (arr([1, 2, 3], ">i4"),)],
     # Arrays in the other byte order are left to the interpreter.
     {"be_i4": {"expect": "refused"}}),
    (add_weak, [(arr([5], d), k) for d in (np.float32, np.int64, np.int32, np.int8, np.uint8)
                for k in (1, 2.5, True, 300, -1)]
     + [(arr([1.5], np.float32), 1e300), (arr([1.5], np.float32), 2**60 + 1), (I64[:1], 4)]),
    (true_divide, [(arr([7], d), arr([2], d)) for d in (np.float32, np.int64, np.int8, np.uint8)]
     + [(arr([7], np.int32), arr([0], np.int32)), (arr([0], np.int8), arr([0], np.int8)),
        (arr([1], np.float32), arr([0], np.float32)), (arr([2**62 + 1], np.int64), arr([3], np.int64))]),
    (floor_and_mod, [(arr([7], d), arr([-2], d)) for d in (np.int64, np.int32, np.int8)]
     + [(arr([-7], np.int8), arr([2], np.int8)), (arr([5], np.uint8), arr([0], np.uint8)),
        (arr([-128], np.int8), arr([-1], np.int8)), (arr([-(2**63)], np.int64), arr([-1], np.int64)),
        (arr([7.5], np.float32), arr([2], np.float32)), (arr([-7.5], np.float32), arr([0.1], np.float32))]),
    (mixed, [(arr([1], np.int8), arr([2.5], np.float32)), (arr([1], np.int32), arr([2.5], np.float32)),
             (arr([1], np.uint8), arr([2], np.int8)), (arr([1], np.uint8), arr([2], np.int32)),
             (arr([0.1], np.float32), arr([0.1], np.float64)), (arr([True], np.bool_), arr([3], np.int8)),
             (arr([127], np.int8), arr([1], np.int64)), (arr([2**40], np.int64), arr([0.5], np.float32))]),
    (compare, [(arr([0.1], np.float32), 0.1), (arr([5], np.int8), 1000), (arr([1], np.uint8), -1),
               (arr([2**53 + 1], np.int64), 2.0**53), (arr([2**53 + 1], np.int64), 2**53),
               (arr([1.5], np.float32), 1e300), (arr([3], np.int32), 3.5), (arr([np.nan], np.float32), 1.0)]),
    (compare_items, [(arr([-1], np.int8), arr([255], np.uint8)), (arr([0.1], np.float32), arr([0.1], np.float64)),
                     (arr([3], np.int64), arr([3.0], np.float32)), (arr([2], np.uint8), arr([1], np.int8))]),
    (negate, [(arr([v], d),) for d, v in ((np.int8, -128), (np.int8, 5), (np.uint8, 3), (np.uint8, 0),
                                          (np.int64, -(2**63)), (np.int32, -(2**31)), (np.float32, -0.0),
                                          (np.float32, 2.5))]),
    (conversions, [(arr([2.7], np.float32),), (arr([-3], np.int8),), (arr([0], np.uint8),),
                   (arr([np.nan], np.float32),), (arr([np.inf], np.float32),), (arr([2**62], np.int64),)]),
    (truth, [(BOOLS,), (arr([0, 1, 2], np.int8),), (arr([0.0, np.nan, -0.0], np.float32),), (arr([], np.uint8),)]),
    (store, [(arr([0, 0], d), 1, v) for d in DTYPES
             for v in (7, -1, 300, 2.7, -2.7, float("nan"), 1e300, True, np.int64(300), np.float64(2.5),
                       np.int8(-3), np.float32(1.5), np.bool_(True))]
     + [(arr([0, 0], np.int64), -3, 5), (READ_ONLY, 0, 5), (arr([0], np.float32), 0, 2**60 + 1),
        (arr([0], np.int8), 0, -128.5), (arr([0], np.int64), 0, 9.3e18), (arr([0], np.int64), 0, -9.223372036854776e18)]),
    (doubled, [(arr([1, 2, 3], d),) for d in DTYPES] + [(arr([100, 1], np.int8),), (arr([200], np.uint8),)]),
    (gather, [(arr([0.5, 1.5, 2.5], np.float64), arr([2, 0, -1], d)) for d in (np.int64, np.int32, np.int8)]
     + [(arr([0.5, 1.5, 2.5], np.float64), arr([2, 0, 1], np.uint8))]
     + [(arr([0.5], np.float64), arr([3], np.int64))]),
    (gather_list, [([1, 2, 3], arr([2, 2, 0], np.int64)), ([1, 2, 3], arr([5], np.int32))]),
    (histogram, [(GRID8 % 3, np.zeros(3, np.int64)), (arr([[1, 2], [2, 9]], np.uint8), np.zeros(4, np.int64))]),
    (invert, [(GRID8.copy(),), (arr([[0, 255]], np.uint8),)]),
    (scalar_arguments, [(np.int8(3), np.int8(4)), (np.uint8(250), np.uint8(10)), (np.float32(0.1), np.float32(0.2)),
                        (np.int64(5), 2), (np.int32(5), np.float32(1.5)), (np.float32(1.5), 2.5)]),
    (threshold, [(arr([1, 5, 3], np.int32), 2, np.zeros(3, np.bool_)), (arr([0.5, 1.5], np.float32), 1, np.zeros(2, np.int8))]),
    (int_total, [(arr([1, 2, 3], d),) for d in (np.int64, np.int32, np.int8, np.uint8)]
     + [(arr([], np.int64),), (arr([100, 100], np.int8),), (arr([2**62, 2**62], np.int64),),
        (arr([2**31 - 1, 1], np.int32),), (arr([250, 10], np.uint8),)]),
    (int_mean, [(arr([1, 2, 3], d),) for d in (np.int64, np.int32, np.int8)]
     + [(arr([], np.int64),), (arr([2**53 + 1], np.int64),)]),
    (int_signs, [(arr([1, 5, 3], d),) for d in (np.int64, np.int8, np.uint8)]
     + [(arr([-128], np.int8),), (arr([], np.int8),), (arr([-(2**63)], np.int64),)]),
    (int_compare, [(arr([1, 2], np.int64), 3.0), (arr([2**53 + 1], np.int64), 2.0**53),
                   (arr([], np.int64), 0.5), (arr([7], np.int64), np.float64(7.0)), (arr([7], np.int64), 7)]),
    (int_shifted, [(arr([1, 2], np.int32), 5), (arr([1], np.int32), 3_000_000_000), (arr([], np.int32), 3_000_000_000),
                   (arr([1, 2], np.int32), 2**31 - 3), (arr([1], np.int8), -200)]),
    (int_floor, [(arr([7, -9, 4], np.int64), 2), (arr([7, -9], np.int8), -3), (arr([5], np.int64), 0), (arr([], np.int64), 3)]),
    (int_as_index, [(arr([1, 1], np.int64), [10, 20, 30]), (arr([], np.int32), [10]), (arr([5], np.int64), [10])]),
    (int_half, [(arr([1, 2], np.int64),), (arr([], np.int64),), (arr([1], np.uint8),)]),
    (int_below, [(arr([1, 2], np.int64),), (arr([], np.int64),), (arr([1], np.uint8),)]),
    (int_pair, [(arr([1, 2], np.int64),), (arr([], np.int64),)]),
    (array_sum, [args for n in (0, 1, 2, 9, 128, 129, 1000, 8193, 50000) for args in sum_views(n)]
     + [(arr([-0.0], np.float64),), (arr([1e308, 1e308], np.float64),), (arr([np.inf, -np.inf], np.float64),),
        (arr([np.nan, 1.0], np.float64),), (arr([3e38, 3e38], np.float32),), (arr([2**62, 2**62], np.int64),),
        (arr([200, 100], np.uint8),), (np.ones((2, 2)),)],
     {"u1": {"expect": "refused"}}),
    (array_sum_nd, [args for n in (0, 1, 3, 40, 130) for args in sum_views_nd(n)]),
    (extremes, [args for n in (1, 3, 40, 300) for args in extreme_views(n)]
     + [(arr([], np.float64),), (arr([], np.int64),), (arr([], np.float32),)]),
    (means, [args for n in (0, 9, 1000, 50000) for args in sum_views(n)]
     + [args for n in (3, 40) for args in sum_views_nd(n)]
     + [(arr([1e308, 1e308], np.float64),), (arr([3e38, 3e38], np.float32),)],
     {d: {"expect": "refused"} for d in ("i8", "i4", "i1", "u1", "b1")}),
    (np_extremes, [args for n in (3, 40) for args in extreme_views(n)] + [(arr([], np.float64),)]),
    (np_sum, [args for n in (0, 9, 1000) for args in sum_views(n)]
     + [args for n in (3, 40) for args in sum_views_nd(n)] + [(arr([200, 100], np.uint8),)],
     {"u1": {"expect": "refused"}}),
    (normalized_total, [(arr([1.0, 3.0], np.float64),), (arr([0.0, 0.0], np.float64),), (arr([2, 6], np.int32),)]),
    (f32_sum, [(arr([0.1] * 10, np.float32),), (arr([], np.float32),), (arr([1e38] * 5, np.float32),)]),
    (float_total, [(arr([0.1] * 10, np.float32),), (arr([], np.float32),), (arr([3e38, 3e38], np.float32),),
                   (arr([np.inf, -np.inf], np.float32),), (arr([1, 2], np.int64),)]),
    (float_mix, [(arr([0.1, 0.2], np.float32), 3.0), (arr([], np.float32), 3.0), (arr([1e38], np.float32), 1e300)]),
    (float_compare, [(arr([0.1] * 3, np.float32), 0.3), (arr([], np.float32), 0.5),
                     (arr([0.1], np.float32), 0.1), (arr([1.0], np.float32), 1e300)]),
    (float_scaled, [(arr([0.1, 0.7], np.float32),), (arr([], np.float32),)]),
    (casts, [(x,) for x in (0.1, 2.7, -2.7, 1e300, float("nan"), 3, 300, -1, 2**60 + 1, True,
                            np.float64(2.5), np.int64(2**40), np.float32(0.5), np.int8(-3), np.bool_(True))]),
    (zeros, [()]),
    (divmod_items, [divmod_pairs(np.float32), divmod_pairs(np.float64),
                    (arr([1.0, 2.0], np.float32), arr([0.0, 1.0], np.float32),
                     np.zeros(2, np.float32), np.zeros(2, np.float32)),
                    (arr([np.inf, 1.0], np.float32), arr([2.0, np.nan], np.float32),
                     np.zeros(2, np.float32), np.zeros(2, np.float32)),
                    (arr([7, -7], np.int64), arr([2, -3], np.int64), np.zeros(2, np.int64),
                     np.zeros(2, np.int64)),
                    (arr([1.0, np.inf, 1e308, -3.5], np.float64), arr([2.0, 2.0, 1e-308, 0.0], np.float64),
                     np.zeros(4), np.zeros(4)),
                    (arr([-0.0, 5.0], np.float64), arr([3.0, np.inf], np.float64), np.zeros(2), np.zeros(2))]),
]

CASES = [case for entry in SPLIT_CASES for case in per_dtype(*entry)]
