"""An indexed loop over a 1e6-item float64 numpy array: the sum of its items."""

import numpy as np

from _harness import run


def indexed_sum(a):
    total = 0.0
    for i in range(len(a)):
        total += a[i]
    return total


if __name__ == "__main__":
    data = np.arange(1_000_000, dtype=np.float64) * 0.001
    run(globals(), "indexed_sum", (data[:4],), (data,), ["indexed_sum"])
