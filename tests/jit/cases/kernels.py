"""Numeric kernels of the kind users compile: n-body style float loops on locals and
tuples, integer kernels with nested loops, and mixed int/float code."""

import math


def advance(x, y, vx, vy, dt, steps):
    for _ in range(steps):
        r2 = x * x + y * y
        r3 = r2 * math.sqrt(r2)
        vx -= x / r3 * dt
        vy -= y / r3 * dt
        x += vx * dt
        y += vy * dt
    return x, y, vx, vy


def energy(p, v):
    return 0.5 * (v[0] * v[0] + v[1] * v[1]) - 1.0 / math.sqrt(p[0] * p[0] + p[1] * p[1])


def nbody_pair(steps):
    x1, y1, x2, y2 = 0.0, 0.0, 1.0, 0.0
    vx1, vy1, vx2, vy2 = 0.0, -0.5, 0.0, 0.5
    m1, m2 = 1.0, 1.0
    dt = 0.001
    for _ in range(steps):
        dx = x1 - x2
        dy = y1 - y2
        d2 = dx * dx + dy * dy + 0.01
        mag = dt / (d2 * math.sqrt(d2))
        vx1 -= dx * m2 * mag
        vy1 -= dy * m2 * mag
        vx2 += dx * m1 * mag
        vy2 += dy * m1 * mag
        x1 += dt * vx1
        y1 += dt * vy1
        x2 += dt * vx2
        y2 += dt * vy2
    return (x1, y1), (x2, y2)


def collatz_max(limit):
    best = 0
    best_n = 0
    for n in range(1, limit):
        steps = 0
        m = n
        while m != 1:
            m = m // 2 if m % 2 == 0 else 3 * m + 1
            steps += 1
        if steps > best:
            best = steps
            best_n = n
    return best_n, best


def gcd_sum(n):
    total = 0
    for a in range(1, n):
        for b in range(1, n):
            x, y = a, b
            while y:
                x, y = y, x % y
            total += x
    return total


def digit_sum(n):
    s = 0
    while n > 0:
        s += n % 10
        n //= 10
    return s


def digit_sums(limit):
    total = 0
    for i in range(limit):
        total += digit_sum(i)
    return total


def mixed_accumulate(n):
    total = 0
    scale = 0.5
    for i in range(n):
        total += i
        scale = scale * 1.0001 + total * 1e-9
    return total, scale


def trapezoid(a, b, n):
    h = (b - a) / n
    s = 0.5 * (math.exp(-a * a) + math.exp(-b * b))
    for i in range(1, n):
        x = a + i * h
        s += math.exp(-x * x)
    return s * h


def newton_sqrt(x, iterations):
    guess = x / 2.0 if x > 1.0 else 1.0
    for _ in range(iterations):
        guess = 0.5 * (guess + x / guess)
    return guess


def polynomial(x, n):
    result = 0.0
    for k in range(n, -1, -1):
        result = result * x + (k + 1)
    return result


def count_lattice(r):
    count = 0
    for x in range(-r, r + 1):
        for y in range(-r, r + 1):
            if x * x + y * y <= r * r:
                count += 1
    return count


def fizz_count(n):
    fizz = buzz = both = 0
    for i in range(1, n + 1):
        if i % 15 == 0:
            both += 1
        elif i % 3 == 0:
            fizz += 1
        elif i % 5 == 0:
            buzz += 1
    return fizz, buzz, both


def bit_count(n):
    c = 0
    while n:
        n &= n - 1
        c += 1
    return c


def popcount_sum(limit):
    s = 0
    for i in range(limit):
        s += bit_count(i)
    return s


def xorshift(seed, n):
    x = seed
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
    return x


def factorial(n):
    r = 1
    for i in range(2, n + 1):
        r *= i
    return r


def binomial(n, k):
    if k < 0 or k > n:
        return 0
    r = 1
    for i in range(1, k + 1):
        r = r * (n - k + i) // i
    return r


def leibniz_pi(n):
    s = 0.0
    sign = 1.0
    for k in range(n):
        s += sign / (2 * k + 1)
        sign = -sign
    return 4.0 * s


def mandelbrot_point(cr, ci, limit):
    zr = zi = 0.0
    for i in range(limit):
        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
        if zr * zr + zi * zi > 4.0:
            return i
    return limit


def mandelbrot_area(size, limit):
    inside = 0
    for i in range(size):
        for j in range(size):
            if mandelbrot_point(-2.0 + 3.0 * i / size, -1.5 + 3.0 * j / size, limit) == limit:
                inside += 1
    return inside


CASES = [
    (advance, [(1.0, 0.0, 0.0, 1.0, 0.01, 1000), (0.5, 0.5, 0.1, -0.2, 0.001, 10)]),
    (energy, [((1.0, 0.0), (0.0, 1.0)), ((3.0, 4.0), (0.5, 0.5))]),
    (nbody_pair, [(1000,), (0,)]),
    (collatz_max, [(1000,), (2,)]),
    (gcd_sum, [(50,)]),
    (digit_sums, [(10000,)]),
    (mixed_accumulate, [(1000,), (0,)]),
    (trapezoid, [(0.0, 1.0, 1000), (-2.0, 2.0, 10)]),
    (newton_sqrt, [(2.0, 20), (1e-10, 50), (1e300, 100)]),
    (polynomial, [(0.5, 10), (-1.5, 30), (2.0, 0)]),
    (count_lattice, [(10,), (0,)]),
    (fizz_count, [(100,), (0,)]),
    (popcount_sum, [(1024,)]),
    (xorshift, [(2463534242, 1000), (1, 10)]),
    (factorial, [(10,), (20,), (21,), (25,)]),
    (binomial, [(10, 3), (60, 30), (100, 50), (5, 7)]),
    (leibniz_pi, [(100000,)]),
    (mandelbrot_area, [(30, 50)]),
]
