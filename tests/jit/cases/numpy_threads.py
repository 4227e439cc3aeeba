"""numpy arrays changed in place by another thread while compiled code runs: a
callee's loop polls the eval breaker and lets the waiting thread run, which sets the
`shape` or `dtype` of an array the caller holds. The caller must not go on with what
its guard saw (reading a 2-d array's second dimension from a 1-d one): it hands over,
and the interpreter raises or computes what python3 does."""

import threading
import time

import numpy as np


def spin(box):
    # Says it is running, then waits (polling at every back-edge) for the other thread.
    box[1] = 1
    n = 0
    while box[0] == 0:
        n += 1
    return n


def read_after(g, box):
    spin(box)
    return g[1, 2]


def sum_after(g, box):
    s = 0.0
    n, m = g.shape
    spin(box)
    for i in range(n):
        for j in range(m):
            s += g[i, j]
    return s


def reshaper(change):
    # Started before each call (interpreted): waits until `spin` runs, changes the
    # array, then lets `spin` return.
    def start():
        box = STATE["box"] = [0, 0]
        grid = STATE["grid"] = np.arange(12.0).reshape(3, 4)

        def run():
            while box[1] == 0:
                time.sleep(0.001)
            change(grid)
            box[0] = 1

        thread = STATE["thread"] = threading.Thread(target=run)
        thread.start()

    return start


def flatten(grid):
    grid.shape = (12,)


def transpose_in_place(grid):
    grid.shape = (4, 3)


def retype(grid):
    grid.dtype = np.int64


def finish():
    STATE["thread"].join()
    return STATE["grid"].shape


STATE = {}


class Late:
    """The arguments, taken when the call is made (after `before` made them)."""

    def __init__(self, *names):
        self.names = names

    def __iter__(self):
        return iter([STATE[name] for name in self.names])

    def __repr__(self):
        return "(grid, box)"


CASES = [
    (read_after, [Late("grid", "box")], {"before": reshaper(flatten), "after": finish}),
    (sum_after, [Late("grid", "box")], {"before": reshaper(transpose_in_place), "after": finish}),
    (sum_after, [Late("grid", "box")], {"before": reshaper(retype), "after": finish}),
]
