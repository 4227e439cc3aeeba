"""numpy.random.random(), random_sample() and rand() (no arguments) inside compiled code
draw exactly numpy's global stream (its RandomState's bit generator), so compiled and
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
    (monte_carlo_pi, [(10000,), (1,)], {"before": seed, "after": state_after}),
    (sample_sum, [(1000,), (0,)], {"before": seed, "after": state_after}),
    (rand_last, [(500,)], {"before": restore_state, "after": state_after}),
    (mixed_with_math, [(100,)], {"before": seed, "after": state_after}),
]
