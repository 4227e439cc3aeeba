"""An indexed loop over a 1e6-item float64 numpy array, writing a second one."""

import numpy as np

from _harness import run


def scale_shift(a, out):
    for i in range(len(a)):
        out[i] = a[i] * 2.0 + 1.0
    return out[len(a) - 1]


if __name__ == "__main__":
    data = np.arange(1_000_000, dtype=np.float64) * 0.001
    run(globals(), "scale_shift", (data[:4], np.zeros(4)), (data, np.zeros(1_000_000)),
        ["scale_shift"])
