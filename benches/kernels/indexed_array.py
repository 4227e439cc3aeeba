"""An indexed loop over a 1e6-item array.array('d') (the numpy version is issue 5's
ndarray benchmark; PyPy's figure in DESIGN.md is for array.array)."""

import array

from _harness import run


def indexed_sum(a):
    total = 0.0
    for i in range(len(a)):
        total += a[i] * 0.5
    return total


if __name__ == "__main__":
    data = array.array("d", [i * 0.001 for i in range(1_000_000)])
    run(globals(), "indexed_sum", (array.array("d", [0.5, 1.5]),), (data,), ["indexed_sum"])
