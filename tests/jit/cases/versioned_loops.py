"""Innermost loops over a range with a fast copy (issue 5's loop versioning): the copy
runs when a test at the loop's entry shows every numpy index in range and every
counter sum within 64 bits; otherwise the loop runs with all its checks. Each function
is called with arguments that pass the entry test and with arguments that fail it
(negative indices counting from the end, IndexError partway, invariant indices out of
range, steps other than 1, sums that overflow), and with hand-overs inside the copy
(numpy warnings and FloatingPointError with the stores made so far, read-only
arrays, int dtypes that cannot hold a value)."""

import hashlib
import warnings

import numpy as np

warnings.simplefilter("always")  # every numpy warning is printed, so each is compared

BIG = 2**63 - 1


def neighbours(a, out, start, stop):
    for j in range(start, stop):
        out[j] = a[j - 1] + a[j + 1]
    return out


def row_sums(a, i, start, stop):
    # `i` is loop-invariant: its range is tested once, at entry.
    s = 0.0
    for j in range(start, stop):
        s += a[i, j] * 2.0
    return s


def column_from_end(a, j):
    # A constant negative index counts from the end: not proven, still correct.
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i, -1] + a[i, j]
    return s


def stepped(a, start, stop, step):
    # Only a step of 1 gets the fast copy: another step's values are not
    # first..first+len-1 (they go past the end, or below zero and count from the end).
    s = 0.0
    for j in range(start, stop, step):
        s += a[j] * (j + 1)
    return s


def cube(a, k):
    s = 0.0
    p, q, r = a.shape
    for i in range(p):
        for j in range(q):
            for m in range(r):
                s += a[i, j, m] * a[i, j, k]
    return s


def in_place(a):
    # The stores feed later reads of the same array: each read sees the earlier store.
    for j in range(1, len(a)):
        a[j] = a[j - 1] * 0.5 + a[j]
    return a


def int_wrap(a, out):
    for j in range(len(a)):
        out[j] = a[j] * 3 + 100
    return out


def scaled(a, out, factor, stop):
    for j in range(stop):
        out[j] = a[j] * factor
    return out


def scaled_raising(a, out, factor, stop):
    # Called under np.seterr(all="raise") (see RAISING): FloatingPointError partway,
    # and the stores made before it are visible afterwards.
    for j in range(stop):
        out[j] = a[j] * factor
    return out


RAISE_OUT = np.zeros(1000)


def raise_mode():
    RAISE_OUT[:] = 0.0
    np.seterr(all="raise")


def warn_mode():
    # Which items the call wrote before it raised, and what they hold.
    np.seterr(all="warn", under="ignore")
    written = np.flatnonzero(RAISE_OUT)
    digest = hashlib.sha256(RAISE_OUT.tobytes()).hexdigest()[:16]
    return (len(written), int(written.max(initial=-1)), digest)


RAISING = {"before": raise_mode, "after": warn_mode}


def feedback(a, out):
    # An unproven read of the written array (its index is not the counter plus an
    # offset): it sees the writes made earlier in the loop, so nothing is held back.
    n = len(a)
    for j in range(n):
        out[j] = a[j] * 0.5 + out[n - 1 - j]
    return out


def counter_sums(a, base):
    # `t` is a sum of an invariant local: the entry test bounds it, or the loop runs
    # with its overflow checks (and the int grows past 64 bits).
    s = 0.0
    t = 0
    for j in range(len(a)):
        t = base + 1
        s += a[j]
    return s, t


def rebinding(a, b):
    # The index local is assigned again in the body: not an affine index any more.
    s = 0.0
    for j in range(len(a) - 1):
        k = j + 1
        s += a[k] + b[j]
        k = k * 2 - len(a)
        s += a[k]
    return s


def dot_sum(a, b, start, stop):
    # A carried float sum and no writes: speculative chunks that test the sum's
    # finiteness at their end, the range and the sum put back when it is not.
    s = start
    for j in range(stop):
        s += a[j] * b[j]
    return s


def sums_and_squares(a):
    s = 0.0
    q = 0.0
    p = 1.0
    for j in range(len(a)):
        s = s - a[j]
        q = a[j] * a[j] + q
        p *= a[j]
    return s, q, p


def float32_sum(a):
    s = np.float32(0.0)
    for j in range(len(a)):
        s += a[j] * np.float32(2.0)
    return s


def quotients(a):
    # `s / a[j]` can be finite when `s` is not: not a carried sum.
    s = 1.0
    for j in range(len(a)):
        s = s / a[j] + 1.0
    return s


def last_and_total(a):
    # `last` is assigned afresh each time round: not a carried sum.
    total = 0.0
    last = 0.0
    for j in range(len(a)):
        total += a[j]
        last = a[j] * 2.0
    return total, last


def dot_sum_where_it_raised(a, b, stop):
    # Called under np.seterr(all="raise"): the sum and counter the frame held when
    # FloatingPointError was raised.
    try:
        return dot_sum(a, b, 0.0, stop)
    except FloatingPointError as exc:
        frame = exc.__traceback__.tb_next.tb_frame
        return str(exc), frame.f_locals["s"], frame.f_locals["j"]


def underflow_warns():
    np.seterr(under="warn")


def underflow_ignored():
    np.seterr(all="warn", under="ignore")


UNDERFLOW_WARNING = {"before": underflow_warns, "after": underflow_ignored}


def reraise_mode():
    np.seterr(all="raise")


# The wrapper is interpreted (try/except); `dot_sum` inside it is compiled.
RERAISING = {"before": reraise_mode, "after": underflow_ignored, "expect": "any"}

A = np.linspace(-2.0, 3.0, 12)
LONG = np.linspace(-1.0, 1.0, 1000)
LONG_HUGE = LONG.copy()
LONG_HUGE[600] = 1e308
LONG_TINY = np.zeros(1000)
SHARED = np.linspace(1.0, 2.0, 1000)
GRID = np.arange(30.0).reshape(5, 6) * 0.25
CUBE = np.arange(60.0).reshape(3, 4, 5) * 0.5


def read_only(a):
    b = a.copy()
    b.flags.writeable = False
    return b


def with_value(a, at, value):
    b = a.copy()
    b[at] = value
    return b


CASES = [
    (neighbours, [(A, np.zeros(12), 1, 11), (A, np.zeros(12), 0, 11), (A, np.zeros(12), 1, 12),
                  (A[::-1], np.zeros(12), 2, 9), (A[::2], np.zeros(6), 1, 5),
                  (A, np.zeros(12), 5, 5), (A, np.zeros(12), 3, 2),
                  (np.frombuffer(bytearray(97), dtype=np.float64, offset=1), np.zeros(12), 1, 11),
                  (A, read_only(np.zeros(12)), 1, 11),
                  (with_value(A, 6, 1e308), np.zeros(12), 1, 11),
                  (with_value(A, 4, np.inf), with_value(A, 3, np.nan), 1, 11)]),
    (row_sums, [(GRID, 2, 0, 6), (GRID, 4, 1, 5), (GRID, 5, 0, 6), (GRID, -1, 0, 6),
                (GRID, -6, 0, 6), (GRID, 0, 0, 7), (np.asfortranarray(GRID), 3, 0, 6),
                (GRID.T, 2, 0, 5), (GRID[::-1, ::2], 1, 0, 3)]),
    (column_from_end, [(GRID, 2), (GRID, -2), (GRID, 6), (GRID.T.copy(), 4)]),
    (stepped, [(A, 0, 12, 1), (A, 0, 12, 2), (A, 0, 16, 2), (A, 0, 40, 5), (A, 3, -3, -1),
              (A, 11, -1, -1), (A, 0, 12, -1)]),
    (cube, [(CUBE, 0), (CUBE, 4), (CUBE, 5), (CUBE, -5), (np.asfortranarray(CUBE), 2),
            (CUBE[:, ::-1, 1:], 1)]),
    (in_place, [(A.copy(),), (A[::-1].copy(),), (np.ones(1),)]),
    (int_wrap, [(np.arange(10, dtype=np.int8) * 12, np.zeros(10, dtype=np.int8)),
                (np.arange(10, dtype=np.int64) * 2**60, np.zeros(10, dtype=np.int64)),
                (np.arange(10, dtype=np.int32), np.zeros(10, dtype=np.uint8)),
                (np.arange(10.0), np.zeros(10, dtype=np.int64))]),
    (scaled, [(LONG, np.zeros(1000), 3.0, 1000), (LONG_HUGE, np.zeros(1000), 10.0, 1000),
              (LONG_HUGE, np.zeros(1000), 10.0, 700), (LONG, LONG_TINY, 1e-300, 1000),
              # Views sharing memory: the writes feed the reads that follow.
              (SHARED[:-1], SHARED[1:], 2.0, 999), (SHARED[1:], SHARED[:-1], 0.5, 999),
              (SHARED[::2], SHARED[1::2], 1.5, 500),
              (A, np.zeros(12), 2.0, 12), (A, np.zeros(12), 1e308, 12),
              (A, np.zeros(12), 1e-320, 12), (A, np.zeros(12), 2.0, 13),
              (A, np.zeros(12, dtype=np.float32), 1e300, 12)]),
    (scaled_raising, [(A, RAISE_OUT[:12], 2.0, 12), (A, RAISE_OUT[:12], 1e308, 12),
                      (with_value(A, 7, np.inf), RAISE_OUT[:12], 0.0, 12),
                      (A, RAISE_OUT[:12], 1e-320, 12),
                      # Several chunks, the one that raises not the first.
                      (LONG, RAISE_OUT, 1.0, 1000), (LONG_HUGE, RAISE_OUT, 10.0, 1000),
                      (LONG_HUGE, RAISE_OUT, 1.0, 1000)], RAISING),
    (feedback, [(LONG, np.ones(1000)), (A, np.linspace(0.0, 1.0, 12)), (A, np.ones(11))]),
    (counter_sums, [(A, 5), (A, BIG - 1), (A, BIG), (A, -BIG - 1)]),
    (rebinding, [(A, A[::-1]), (A[:3], A[:3])]),
    (dot_sum, [(LONG, LONG, 0.0, 1000), (LONG, LONG, 0.5, 700), (LONG_HUGE, LONG, 0.0, 1000),
               # A product overflows in the third chunk; the sum overflows, then turns
               # NaN (inf - inf); a NaN item; an infinite sum coming in.
               (LONG_HUGE, with_value(LONG, 600, 10.0), 0.0, 1000),
               (np.full(1000, 1e308), np.ones(1000), 0.0, 1000),
               (np.full(1000, 1e308), np.where(np.arange(1000) < 500, 1.0, -3.0), 0.0, 1000),
               (with_value(LONG, 300, np.nan), LONG, 0.0, 1000),
               (LONG, LONG, float("inf"), 1000), (LONG, LONG, np.float64(-np.inf), 1000),
               # Products that underflow (numpy ignores it by default).
               (LONG, np.full(1000, 1e-310), 0.0, 1000), (A, A, 0.0, 13)]),
    (dot_sum, [(LONG, np.full(1000, 1e-310), 0.0, 1000), (LONG, LONG, 0.0, 1000)],
     UNDERFLOW_WARNING),
    (sums_and_squares, [(LONG,), (LONG_HUGE,), (np.full(1000, 1.5),), (np.full(1000, 0.5),),
                        (with_value(LONG, 900, -np.inf),), (A,)]),
    (float32_sum, [(np.linspace(0, 1, 1000, dtype=np.float32),),
                   (np.full(1000, 3e37, dtype=np.float32),)]),
    (quotients, [(LONG,), (with_value(LONG, 10, 0.0),), (np.full(1000, 1e-300),)]),
    (last_and_total, [(LONG,), (LONG_HUGE,), (with_value(LONG_HUGE, 700, 1e308),)]),
    (dot_sum_where_it_raised, [(LONG_HUGE, with_value(LONG, 600, 10.0), 1000),
                               (np.full(1000, 1e308), np.ones(1000), 1000),
                               (LONG, LONG, 1000)], RERAISING),
]
