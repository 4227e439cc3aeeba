"""A 2-D five-point stencil on 500x500 float64 numpy arrays, 4 sweeps."""

import numpy as np

from _harness import run


def stencil(a, out, sweeps):
    n, m = a.shape
    for _ in range(sweeps):
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                out[i, j] = (a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1]) * 0.25
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                a[i, j] = out[i, j]
    return out[n // 2, m // 2]


def grids(n):
    a = np.fromfunction(lambda i, j: np.sin(i * 0.01) + np.cos(j * 0.02), (n, n))
    return a, np.zeros((n, n))


if __name__ == "__main__":
    run(globals(), "stencil", (*grids(8), 1), (*grids(500), 4), ["stencil"])
