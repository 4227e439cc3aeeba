"""numpy float64 warnings in chains of operations (issue 5's deferred checks): compiled
code checks a chain of additions, subtractions and multiplications once, at its end,
and the checks of the earlier operations run when that one fails, or before any other
hand-over inside the chain (an index out of range, an int leaving 64 bits, a division
by zero). Every warning must come from the operation python3 gives it for, in the same
order, and with numpy set to raise, the same FloatingPointError (underflow included)."""

import warnings

import numpy as np

warnings.simplefilter("always")  # every numpy warning is printed, so each is compared

BIG = 2**63 - 1


def scaled_sum(a, i, k):
    # The product overflows first; then a[i + k] may be out of range (IndexError after
    # the product's warning), and the sum is checked at the end of the line.
    return a[i] * 1e308 + a[i + k]


def back_to_finite(a, i):
    # inf * 1e-308 stays infinite: only the first product warns.
    x = a[i] * 1e308 * 1e-308
    return x


def cancelling(a, i, j):
    # inf - inf: NaN from non-NaN operands, numpy's "invalid value".
    return (a[i] * 1e308 - a[j] * 1e308) * 0.5


def divided(a, i):
    # A division does not keep an infinity: 1 / inf is 0, so the product's own check
    # must not wait for the quotient's.
    return 1.0 / (a[i] * 1e308) + a[i]


def remainder(a, i):
    # x % inf is x: the product's check must not wait for the remainder's either.
    return 2.0 % (a[i] * 1e308) + a[i]


def int_overflow_between(a, i, n):
    # The product overflows, then `n + 1` leaves 64 bits (the interpreter goes on with a
    # big int): the product's warning comes first.
    x = a[i] * 1e308
    m = n + 1
    return x + a[i], m


def int_overflow_in_chain(a, i, n):
    return a[i] * 1e308 + a[(n + 1) % 3]


def compared(a, i):
    # The check runs before the comparison and the branch.
    if a[i] * 1e308 + 1.0 > 0.0:
        return 1
    return 0


def pair(a, i):
    # Two chains in one tuple: both checked, in order.
    return (a[i] * 1e308, a[i + 1] * -0.5)


def several_rows(g, n):
    # The stencil's shape: four reads added and subtracted, then scaled.
    out = np.zeros((n, n))
    for i in range(1, n - 1):
        for j in range(1, n - 1):
            out[i, j] = (g[i - 1, j] + g[i + 1, j] - g[i, j - 1] - g[i, j + 1]) * 0.25
    return out


def running_products(a, b):
    s = 0.0
    for k in range(len(a)):
        s += a[k] * b[k]
    return s


def mixed(a, i, x):
    # A Python float times a numpy float is numpy's: checked like the others.
    y = x * a[i] + x
    z = x * 2.0 + x
    return y, z


def zero_division(a, i, d):
    # The product is pending when `/ d` divides by zero: its warning comes first.
    return a[i] * 1e308 + a[i] / d


def tiny(a, i, x):
    # Underflow (numpy ignores it unless told otherwise; raised in the second round):
    # products and quotients below the smallest normal number, or rounded to zero.
    return a[i] * x, a[i] / x, a[i] // x, a[i] % x


def tiny32(a, i, x):
    # The same in float32, whose smallest normal number is about 1.2e-38.
    return a[i] * x, a[i] / x, a[i] + x


def raise_on_errors():
    np.seterr(all="raise")


def warn_on_errors():
    return np.seterr(all="warn")


VALUES = np.array([3.0, -2.0, 1.5, 0.0, np.inf, np.nan, 1e-300])
GRID = np.arange(25.0).reshape(5, 5)
HUGE = GRID.copy()
HUGE[1, 2] = HUGE[3, 2] = 1.7e308  # their sum overflows at (2, 2)
WITH_INF = GRID.copy()
WITH_INF[1, 3] = np.inf  # infinite results, no warning
TWO_INF = GRID.copy()
TWO_INF[2, 1] = TWO_INF[1, 2] = np.inf  # inf - inf at (1, 1): invalid
TINY = np.array([1e-300, 3e-308, 1.0, 5e-324, 0.0, -2e-308])
TINY32 = TINY.astype(np.float32) + np.float32(1e-37)
LONG = np.linspace(-1.0, 1.0, 50)
LARGE = np.full(50, 1e200)

CHAINS = [
    (scaled_sum, [(VALUES, 0, 1), (VALUES, 3, 1), (VALUES, 0, 100), (VALUES, 3, 100),
                  (VALUES, 4, 1), (VALUES, 5, 1), (VALUES, 6, 0)]),
    (back_to_finite, [(VALUES, 0), (VALUES, 3), (VALUES, 4), (VALUES, 6)]),
    (cancelling, [(VALUES, 0, 2), (VALUES, 0, 1), (VALUES, 3, 3), (VALUES, 4, 4),
                  (VALUES, 5, 0)]),
    (divided, [(VALUES, 0), (VALUES, 3), (VALUES, 4), (VALUES, 6)]),
    (remainder, [(VALUES, 0), (VALUES, 2), (VALUES, 3), (VALUES, 4)]),
    (int_overflow_between, [(VALUES, 0, 5), (VALUES, 0, BIG), (VALUES, 3, BIG)]),
    (int_overflow_in_chain, [(VALUES, 0, 5), (VALUES, 0, BIG), (VALUES, 6, BIG)]),
    (compared, [(VALUES, 0), (VALUES, 1), (VALUES, 3), (VALUES, 5)]),
    (pair, [(VALUES, 0), (VALUES, 3), (VALUES, 2), (VALUES, 5)]),
    (several_rows, [(GRID, 5), (HUGE, 5), (WITH_INF, 5), (TWO_INF, 5),
                    (np.asfortranarray(HUGE), 5)]),
    (running_products, [(LONG, LONG), (LARGE, LARGE), (LONG, LARGE)]),
    (mixed, [(VALUES, 0, 2.0), (VALUES, 0, 1e308), (VALUES, 4, 1.0), (VALUES, 3, 1e308)]),
    (tiny, [(TINY, 0, 1e-10), (TINY, 1, 0.5), (TINY, 2, 3.0), (TINY, 3, 0.5), (TINY, 0, 1e300),
            (TINY, 4, 1e-300), (TINY, 0, np.inf), (TINY, 5, -0.5), (TINY, 1, 3e-308)]),
    (tiny32, [(TINY32, 0, np.float32(0.01)), (TINY32, 2, np.float32(3.0)),
              (TINY32, 0, np.float32(1e30)), (TINY32, 4, np.float32(-1e-37))]),
    (zero_division, [(VALUES, 0, 2.0), (VALUES, 0, 0.0), (VALUES, 3, 0.0), (VALUES, 2, 0.0)]),
]

# The same functions again with numpy raising FloatingPointError instead of warning:
# the first operation python3 raises at must be the one the compiled code hands over at.
CASES = CHAINS + [
    (function, calls, {"before": raise_on_errors, "after": warn_on_errors})
    for function, calls in CHAINS
]
