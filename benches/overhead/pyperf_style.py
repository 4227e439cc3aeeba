"""Call-heavy code the JIT never compiles, in the style of pyperformance's benchmarks:
n-queens with generators, a recursive-descent expression evaluator, a task scheduler
with objects and dicts."""

import time
from itertools import permutations


def n_queens(n):
    cols = range(n)
    for vec in permutations(cols):
        if n == len(set(vec[i] + i for i in cols)) == len(set(vec[i] - i for i in cols)):
            yield vec


class Parser:
    def __init__(self, text):
        self.tokens = text.replace("(", " ( ").replace(")", " ) ").split()
        self.at = 0

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self):
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expr(self):
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self):
        value = self.atom()
        while self.peek() in ("*", "%"):
            value = value * self.atom() if self.take() == "*" else value % (self.atom() or 1)
        return value

    def atom(self):
        token = self.take()
        if token == "(":
            value = self.expr()
            self.take()
            return value
        return int(token)


class Task:
    def __init__(self, name, work):
        self.name = name
        self.work = work
        self.done = 0

    def run(self, scheduler):
        self.done += 1
        if self.done < self.work:
            scheduler.post(self)
        return self.done


class Scheduler:
    def __init__(self):
        self.queue = []
        self.log = {}

    def post(self, task):
        self.queue.append(task)

    def run(self):
        while self.queue:
            task = self.queue.pop(0)
            self.log[task.name] = task.run(self)
        return sum(self.log.values())


def main():
    total = sum(1 for _ in n_queens(8))
    expression = " + ".join(f"({i} * {i + 1} % 7 - {i})" for i in range(60))
    for _ in range(6000):
        total += Parser(expression).expr()
    for _ in range(800):
        scheduler = Scheduler()
        for i in range(50):
            scheduler.post(Task(f"t{i}", i % 17 + 1))
        total += scheduler.run()
    return total


if __name__ == "__main__":
    started = time.perf_counter()
    print(main())
    print(f"BENCH_SECONDS={time.perf_counter() - started:.6f}")
