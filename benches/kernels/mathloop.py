"""A math-heavy loop: sin, cos, sqrt and exp per iteration."""

import math

from _harness import run


def math_loop(n):
    total = 0.0
    for i in range(1, n):
        x = i * 1e-6
        total += math.sin(x) * math.cos(x) + math.sqrt(x) - math.exp(-x)
    return total


if __name__ == "__main__":
    run(globals(), "math_loop", (100,), (3_000_000,), ["math_loop"])
