"""Integer kernels with nested loops: Collatz chain lengths and a sum of gcds."""

from _harness import run


def collatz_longest(limit):
    best = 0
    best_n = 0
    for n in range(1, limit):
        steps = 0
        m = n
        while m != 1:
            if m % 2 == 0:
                m = m // 2
            else:
                m = 3 * m + 1
            steps += 1
        if steps > best:
            best = steps
            best_n = n
    return best_n * 1000 + best


def gcd_sum(n):
    total = 0
    for a in range(1, n):
        for b in range(1, n):
            x = a
            y = b
            while y:
                x, y = y, x % y
            total += x
    return total


def kernel(limit, n):
    return collatz_longest(limit) + gcd_sum(n)


if __name__ == "__main__":
    run(globals(), "kernel", (10, 10), (300_000, 300),
        ["collatz_longest", "gcd_sum", "kernel"])
