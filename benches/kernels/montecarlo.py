"""Monte-carlo estimate of pi with random.random()."""

import random

from _harness import run


def monte_carlo_pi(samples):
    inside = 0
    for _ in range(samples):
        x = random.random()
        y = random.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return 4.0 * inside / samples


if __name__ == "__main__":
    random.seed(1)
    run(globals(), "monte_carlo_pi", (1000,), (5_000_000,), ["monte_carlo_pi"])
