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


def advance(dt, n, bodies, pairs):
    # pyperformance's n-body: lists of tuples of lists, updated in place.
    for _ in range(n):
        for (([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2)) in pairs:
            dx = x1 - x2
            dy = y1 - y2
            dz = z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1m = m1 * mag
            b2m = m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for (r, [vx, vy, vz], m) in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz
    return bodies


def system():
    bodies = [([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 39.47),
              ([4.84, -1.16, -0.10], [0.60, 2.81, -0.02], 0.037),
              ([8.34, 4.12, -0.40], [-1.01, 1.82, 0.008], 0.011)]
    return bodies, [(bodies[i], bodies[j]) for i in range(3) for j in range(i + 1, 3)]


def odd_systems():
    bodies, pairs = system()
    short = [(bodies[0], bodies[1]), ((bodies[1][0], bodies[1][1]), bodies[2])]
    stray = [(bodies[0], bodies[1]), (bodies[1], (bodies[2][0], [1.0, 2.0, "v"], 0.5))]
    as_int = [(bodies[0], (bodies[1][0], bodies[1][1], 3))]
    return [(0.01, 2, bodies, short), (0.01, 2, bodies, stray), (0.01, 2, bodies, as_int)]


def pair_sum(pairs):
    s = 0.0
    for (a, b) in pairs:
        s += a * b
    return s


def keep_old_item(values):
    # The float a store replaces is also held here: it must stay what it was.
    kept = values[0]
    values[0] = kept * 2.0
    values[1] += 1.0
    return kept, values


def two_row_loops(n, rows, other):
    # `q` is unbound until the second loop runs: a stray row in the first loop hands
    # over with a list local that holds nothing yet (this crashed the deoptimization).
    s = 0.0
    for _ in range(n):
        for row in rows:
            s += row[0]
        for q in other:
            s += q[0]
    return s


SHARED_FLOAT = 1.5

CASES = [
    (advance, [(0.01, 10, *system()), (0.01, 0, *system())] + odd_systems()),
    (pair_sum, [([(1.0, 2.0), (3.0, 4.0)],), ([(1.0, 2.0), (3.0,)],), ([(1.0, 2.0), (3.0, "x")],), ([],)]),
    (two_row_loops, [(3, [[1.0], [2.0]], [[3.0]]), (1, [[1.0], 5.0], [[3.0]]), (2, [[1.0]], [[3.0], "x"])]),
    (keep_old_item, [([0.5, 0.25],), ([SHARED_FLOAT, SHARED_FLOAT],), ([1.0, 2.0],)]),
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
