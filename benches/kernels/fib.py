"""Recursive Fibonacci: call-heavy integer recursion."""

from _harness import run


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


if __name__ == "__main__":
    run(globals(), "fib", (15,), (32,), ["fib"])
