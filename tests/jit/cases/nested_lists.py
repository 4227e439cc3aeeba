"""Lists of lists (matrices) and lists inside tuples in compiled code (issue 5): rows
read by index and by iteration, `m[i][j]` reads and stores, rows unpacked
(`x, y, z = p`), arrays and lists unpacked; a row that is not a list, a row of another
length or a stray item hands over to the interpreter."""

import array


def trace(m):
    t = 0.0
    for i in range(len(m)):
        t += m[i][i]
    return t


def matmul(a, b, c):
    n = len(a)
    p = len(b[0])
    for i in range(n):
        row = a[i]
        out = c[i]
        for j in range(p):
            s = 0.0
            for k in range(len(b)):
                s += row[k] * b[k][j]
            out[j] = s
    return c


def row_sums(m):
    total = 0
    for row in m:
        for x in row:
            total += x
    return total


def norms(points):
    s = 0.0
    for p in points:
        x, y, z = p
        s += x * x + y * y + z * z
    return s


def from_tuple(pair):
    xs, ys = pair
    s = 0.0
    for x, y in zip(xs, ys):
        s += x * y
    return s


def unpack_array(a):
    lo, hi = a
    return hi - lo


def scale_rows(m, k):
    for row in m:
        for j in range(len(row)):
            row[j] *= k
    return m


CASES = [
    (trace, [([[1.0, 2.0], [3.0, 4.0]],), ([],), ([[1.0]],), ([[1.0], 2.0],), ([[1.0, 2.0], [3.0]],)]),
    (matmul, [([[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]], [[0.0, 0.0], [0.0, 0.0]]),
              ([[1.0, 2.0, 3.0]], [[1.0], [2.0], [3.0]], [[0.0]]),
              ([[1.0, 2.0]], [[1.0], [2.0]], [[0.0]])]),
    (row_sums, [([[1, 2], [3], []],), ([[2**62], [2**62]],), ([[1, 2], (3, 4)],)]),
    (norms, [([[1.0, 2.0, 2.0], [0.0, 3.0, 4.0]],), ([[1.0, 2.0]],), ([],), ([[1.0, 2.0, "z"]],)]),
    (from_tuple, [(([1.0, 2.0], [3.0, 4.0]),), (([1.0], [2.0, 3.0]),)]),
    (unpack_array, [(array.array("d", [1.5, 4.0]),), (array.array("d", [1.0]),), (array.array("i", [3, 10]),)]),
    (scale_rows, [([[1.0, 2.0], [3.0]], 2.0), ([[1, 2]], 3), ([[1.0], ["s"]], 2.0)]),
]
