"""Sum of squares over a list of 1e6 floats (iterating the list itself)."""

from _harness import run


def sum_of_squares(data):
    total = 0.0
    for x in data:
        total += x * x
    return total


if __name__ == "__main__":
    data = [i * 0.001 for i in range(1_000_000)]
    run(globals(), "sum_of_squares", ([0.5, 1.5],), (data,), ["sum_of_squares"])
