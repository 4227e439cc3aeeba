"""Monte-carlo estimate of pi with np.random.random() (the blog's version), 5e6
samples drawn from numpy's global stream."""

import numpy as np

from _harness import run


def monte_carlo_pi(samples):
    inside = 0
    for _ in range(samples):
        x = np.random.random()
        y = np.random.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return 4.0 * inside / samples


if __name__ == "__main__":
    np.random.seed(1)
    run(globals(), "monte_carlo_pi", (1000,), (5_000_000,), ["monte_carlo_pi"])
