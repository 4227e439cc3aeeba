"""Triple-loop matrix multiply on lists of lists (120 x 120 floats)."""

from _harness import run


def matmul(a, b, c):
    n = len(a)
    p = len(b[0])
    m = len(b)
    for i in range(n):
        row = a[i]
        out = c[i]
        for j in range(p):
            s = 0.0
            for k in range(m):
                s += row[k] * b[k][j]
            out[j] = s
    return c[0][0]


def matrices(n):
    a = [[(i * n + j) * 0.001 for j in range(n)] for i in range(n)]
    b = [[(i - j) * 0.002 for j in range(n)] for i in range(n)]
    c = [[0.0] * n for _ in range(n)]
    return a, b, c


if __name__ == "__main__":
    run(globals(), "matmul", matrices(4), matrices(120), ["matmul"])
