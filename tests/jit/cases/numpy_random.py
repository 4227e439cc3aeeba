"""numpy.random.random(), random_sample() and rand() (no arguments) and randint(high) /
randint(low, high) inside compiled code draw exactly numpy's global stream (its RandomState's bit generator), so compiled and
interpreted draws interleave; `np.random.seed` and `set_state` apply to both."""

import numpy as np
from numpy.random import rand as imported_rand
from numpy.random import random as imported_random


def monte_carlo_pi(samples):
    inside = 0
    for _ in range(samples):
        x = np.random.random()
        y = np.random.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return 4.0 * inside / samples


def sample_sum(n):
    total = 0.0
    for _ in range(n):
        total += np.random.random_sample() + imported_random()
    return total


def rand_last(n):
    v = 0.0
    for _ in range(n):
        v = imported_rand()
    return v


def mixed_with_math(n):
    # The draws feed Python float arithmetic (np.random.random() returns a float).
    s = 0.0
    for i in range(n):
        s += np.random.rand() * i - 0.5
    return s


def dice(n, sides):
    counts = 0
    for _ in range(n):
        counts += np.random.randint(1, sides + 1)
    return counts


def ranges(low, high):
    # 32-bit draws for ranges up to 2**32, 64-bit draws beyond; empty ranges raise.
    total = 0
    for _ in range(50):
        total += np.random.randint(low, high) % 1000
    return total


def one_bound(k):
    return np.random.randint(k) + np.random.randint(k)


def mixed_draws(n):
    s = 0.0
    for _ in range(n):
        s += np.random.random() * np.random.randint(10)
    return s


def drawn_arrays(n):
    # Arrays of draws, made by numpy's own methods: the same stream, interleaved with
    # single draws.
    xs = np.random.random(n)
    ys = np.random.rand(n, 2)
    zs = np.random.random(size=(2, n))
    k = np.random.randint(0, 100, n)
    m = np.random.randint(5, size=(n, 3), dtype=np.int32)
    one = np.random.random()
    s = 0.0
    for i in range(n):
        s += xs[i] * ys[i, 1] + zs[1, i] + k[i] + m[i, 2]
    return s + one, k, m


def hits(n):
    xs = np.random.random(n)
    ys = np.random.random(n)
    inside = 0
    for i in range(n):
        if xs[i] * xs[i] + ys[i] * ys[i] <= 1.0:
            inside += 1
    return 4.0 * inside / n


def bad_sizes(n):
    return np.random.randint(0, 10, n - 5), np.random.random(n - 5)


def seed():
    np.random.seed(20261124)


def state_after():
    return np.random.random(), np.random.randint(0, 1000)


def restore_state():
    np.random.seed(1)
    saved = np.random.get_state()
    np.random.random()
    np.random.set_state(saved)


CASES = [
    (dice, [(1000, 6), (5, 1), (300, 2**31)], {"before": seed, "after": state_after}),
    (ranges, [(0, 2**32), (0, 2**32 + 1), (-(2**63), 2**63 - 1), (-5, 5), (3, 3), (5, 2), (7, 8),
              (-(2**62), 2**62)],
     {"before": seed, "after": state_after}),
    (one_bound, [(1,), (100,), (0,), (-3,), (2**40,)], {"before": seed, "after": state_after}),
    (mixed_draws, [(200,)], {"before": seed, "after": state_after}),
    (monte_carlo_pi, [(10000,), (1,)], {"before": seed, "after": state_after}),
    (sample_sum, [(1000,), (0,)], {"before": seed, "after": state_after}),
    (rand_last, [(500,)], {"before": restore_state, "after": state_after}),
    (mixed_with_math, [(100,)], {"before": seed, "after": state_after}),
    (drawn_arrays, [(5,), (0,), (300,)], {"before": seed, "after": state_after}),
    (hits, [(1000,), (1,)], {"before": seed, "after": state_after}),
    (bad_sizes, [(7,), (3,)], {"before": seed, "after": state_after}),
]
