"""random.random(), uniform() and randint() draw exactly CPython's stream from the
random module's own generator; compiled and interpreted calls interleave."""

import random
from random import randint as imported_randint
from random import random as imported_random


def monte_carlo_pi(samples):
    inside = 0
    for _ in range(samples):
        x, y = random.random(), random.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return 4.0 * inside / samples


def draws(n):
    total = 0.0
    for _ in range(n):
        total += imported_random()
    return total


def uniform_sum(n, a, b):
    s = 0.0
    for _ in range(n):
        s += random.uniform(a, b)
    return s


def randint_sum(n, a, b):
    s = 0
    for _ in range(n):
        s += random.randint(a, b)
    return s


def imported_randint_last(n, a, b):
    v = 0
    for _ in range(n):
        v = imported_randint(a, b)
    return v


def interleaved(n):
    return random.random() + n * 0.0


def seed():
    random.seed(12345)


def state_after():
    return random.random()


CASES = [
    (monte_carlo_pi, [(10000,), (1,)], {"before": seed, "after": state_after}),
    (draws, [(1000,), (0,)], {"before": seed, "after": state_after}),
    (uniform_sum, [(100, 0.0, 1.0), (100, 5, 10), (10, 2**62, -(2**62)), (10, 2**63 - 1, -(2**63)),
                   (10, 1.5, -3)], {"before": seed, "after": state_after}),
    (randint_sum, [(100, 1, 6), (100, -5, 5), (50, 0, 2**40), (10, 3, 3), (10, 5, 4),
                   (20, -(2**63), 2**63 - 1), (20, 0, 2**63 - 1)],
     {"before": seed, "after": state_after}),
    (imported_randint_last, [(1000, 0, 10**9)], {"before": seed, "after": state_after}),
    (interleaved, [(1,), (2,), (3,)], {"before": seed, "after": state_after}),
]
