"""A triple-loop matrix multiply of 150x150 float64 numpy arrays into a new array."""

import numpy as np

from _harness import run


def matmul(a, b):
    n, m = a.shape
    p = b.shape[1]
    out = np.zeros((n, p))
    for i in range(n):
        for j in range(p):
            s = 0.0
            for k in range(m):
                s += a[i, k] * b[k, j]
            out[i, j] = s
    return out[n // 2, p // 2] + out[n - 1, p - 1]


def matrices(n):
    a = np.fromfunction(lambda i, j: np.sin(i * 0.01 + j * 0.03), (n, n))
    b = np.fromfunction(lambda i, j: np.cos(i * 0.02 - j * 0.01), (n, n))
    return a, b


if __name__ == "__main__":
    run(globals(), "matmul", matrices(8), matrices(150), ["matmul"])
