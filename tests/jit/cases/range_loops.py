"""Loops over ranges indexing lists and arrays (issue 5's loop work): what the JIT
assumes about a range counter (with a positive step, never below the value the loop
was entered at; set again at each entry, kept across polls), indices from counters
that start negative, step down or restart at another value each time round the outer
loop, IndexError partway, ranges whose value after the last does not fit in 64 bits,
and numpy's floating-point warnings inside such loops."""

import array
import signal
import warnings

import numpy as np

warnings.simplefilter("always")  # every numpy warning is printed, so each is compared

BIG = 2**63 - 1


def around(a, n):
    # Counters from -n: negative indices count from the end.
    s = 0.0
    for i in range(-n, n):
        s += a[i]
    return s


def around_2d(a, n):
    s = 0.0
    for i in range(-n, n):
        for j in range(-n, n):
            s += a[i, j] * (i + 1)
    return s


def restarting(a):
    # The inner loop starts somewhere else (below zero at first) every time round.
    s = 0.0
    n = len(a)
    for i in range(n):
        for j in range(i - 2, n):
            s += a[j] * i
    return s


def downwards(a, stop):
    s = 0.0
    for i in range(len(a) - 1, stop, -1):
        s += a[i]
    return s


def strided(a, start, step):
    s = 0.0
    for i in range(start, len(a), step):
        s += a[i]
    return s


def neighbours(a):
    n = len(a)
    out = []
    for j in range(1, n + 1):
        out.append(a[j - 1] + a[j])  # a[n] raises at the last j
    return out


def near_the_top(start, step):
    # The value after the last does not fit in 64 bits; the last step overflows
    # `i + 10` and finishes in the interpreter.
    total = 0
    for i in range(start, BIG, step):
        total += i // 2**40
        total += (i + 10) // 2**40
    return total


def near_the_bottom(start, step):
    total = 0
    for i in range(start, -BIG - 1, step):
        total += i // 2**40
        total += (i - 10) // 2**40
    return total


def counted(a):
    s = 0.0
    for k, i in enumerate(range(len(a) - 1, -1, -1)):
        s += a[i] * k
    for i, x in zip(range(-len(a), 0), a):
        s += a[i] - x
    return s


def product_sums(a, b):
    # benches/kernels/numpy_matmul.py's kernel, so the code measured is the code tested
    # (the bench scripts import their timing harness): numpy float64 products and sums
    # with their warnings (overflow, invalid).
    n, m = a.shape
    p = b.shape[1]
    out = np.zeros((n, p))
    for i in range(n):
        for j in range(p):
            s = 0.0
            for k in range(m):
                s += a[i, k] * b[k, j]
            out[i, j] = s
    return out


def stencil(a, out, sweeps):
    # benches/kernels/numpy_stencil.py's kernel, as `product_sums` is the matmul's.
    n, m = a.shape
    for _ in range(sweeps):
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                out[i, j] = (a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1]) * 0.25
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                a[i, j] = out[i, j]
    return out


def swapping(a, b):
    # The arrays the locals hold change inside the loop's body: each access reads the
    # fields of the array it is given, not those read at the loop's top.
    s = 0.0
    for i in range(len(a)):
        s += a[i]
        a, b = b, a
        s += a[i] * 2.0
        b[i] = s
    return s


def swapping_2d(g, h):
    s = 0.0
    n, m = g.shape
    for i in range(n):
        for j in range(m):
            s += g[i, j]
            g, h = h, g
            s += g[i, j] * 0.5
    return s


def _tick(signum, frame):
    pass


def start_timer():
    signal.signal(signal.SIGALRM, _tick)
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)


def stop_timer():
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def polled(a, rounds):
    # A timer signal (see CASES) sets the eval breaker many times while the loops
    # run: their back-edges poll, run the handler and go on in the loop.
    s = 0.0
    for r in range(rounds):
        for i in range(r - 3, len(a)):
            s += a[i] * 0.5
    return s


FLOATS = [0.5, 1.5, -2.25, 4.0, 8.5, -0.0]
ARRAY = array.array("d", FLOATS)
NDARRAY = np.array(FLOATS)
GRID = np.arange(36.0).reshape(6, 6) * 0.5
WIDE = np.linspace(-1.0, 1.0, 20000)


def with_huge(a, at, value):
    b = a.copy()
    b[at] = value
    return b


CASES = [
    (around, [(FLOATS, 3), (ARRAY, 3), (NDARRAY, 3), (NDARRAY[::-2], 1), (FLOATS, 7),
              (NDARRAY, 7), (FLOATS, 0)]),
    (around_2d, [(GRID, 3), (np.asfortranarray(GRID), 2), (GRID, 4), (GRID[::2, 1:], 2)]),
    (restarting, [(FLOATS,), (ARRAY,), (NDARRAY,), ([1.0],), ([1.0, 2.0],)]),
    (downwards, [(FLOATS, -1), (FLOATS, -4), (NDARRAY, -7), (NDARRAY, -8), (ARRAY, 2)]),
    (strided, [(FLOATS, 0, 2), (NDARRAY, -5, 3), (NDARRAY, -9, 4), (ARRAY, 1, 10)]),
    (neighbours, [(FLOATS,), (NDARRAY,), (ARRAY,), ([1.0],)]),
    (near_the_top, [(BIG - 10, 7), (BIG - 30, 1), (BIG - 3, 5), (0, 2**62)]),
    (near_the_bottom, [(-BIG + 10, -7), (-BIG + 30, -1), (0, -(2**62))]),
    (counted, [(FLOATS,), (NDARRAY,), (ARRAY,), ([],)]),
    (product_sums, [(GRID, GRID.T.copy()), (GRID[:3], GRID[:, :2]),
                    (with_huge(GRID, (2, 3), 1e300), GRID),
                    (with_huge(GRID, (1, 1), np.inf), with_huge(GRID, (1, 0), 0.0)),
                    (with_huge(GRID, (0, 0), np.nan), GRID)]),
    (stencil, [(GRID.copy(), np.zeros((6, 6)), 3), (np.asfortranarray(GRID), np.zeros((6, 6)), 2),
               (with_huge(GRID, (2, 2), 1.5e308), np.zeros((6, 6)), 2)]),
    (swapping, [(NDARRAY.copy(), NDARRAY[::-1].copy()), (NDARRAY.copy(), NDARRAY[:3].copy()),
                 (NDARRAY[::2].copy(), np.zeros(2))]),
    (swapping_2d, [(GRID.copy(), GRID.T.copy()), (GRID.copy(), np.ones((6, 3))),
                   (GRID.copy(), np.asfortranarray(GRID[::-1]))]),
    (polled, [(WIDE, 60), ([float(x) for x in WIDE[:5000]], 40)],
     {"before": start_timer, "after": stop_timer}),
]
