"""DistributedCoordinator on worker processes (issue 8 item 7):
`pyopt-python benches/distributed/coordinator.py`.

- speed-up of `coordinator.map` over a serial loop on CPU-bound tasks, 2 workers (best
  of 5; the workers are started before timing, as a long-lived pool would be);
- per-task overhead on tiny tasks against `multiprocessing.Pool.map` with the same
  number of workers and chunk size;
- genetic optimizer evaluations per second with a cheap fitness function.
Figures go to stdout as a markdown table."""

import multiprocessing
import random
import time

from python_optimizer.distributed import DistributedCoordinator, DistributedGeneticOptimizer
from python_optimizer.genetic import ParameterRange

REPEAT = 5


def cpu_task(seed):
    rng = random.Random(seed)
    total = 0.0
    for _ in range(400_000):
        total += rng.random() * rng.random()
    return total


def tiny(x):
    return x + 1


def best(function):
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    tasks = list(range(16))
    rows = []
    serial = best(lambda: [cpu_task(t) for t in tasks])
    with DistributedCoordinator(num_workers=2) as coordinator:
        coordinator.map(tiny, range(4))  # start the workers
        parallel = best(lambda: coordinator.map(cpu_task, tasks, chunksize=1))
        assert coordinator.map(cpu_task, tasks) == [cpu_task(t) for t in tasks]
        rows.append(("CPU-bound map, 16 tasks of ~70 ms, 2 workers",
                     f"serial {serial * 1e3:.0f} ms, map {parallel * 1e3:.0f} ms: "
                     f"{serial / parallel:.2f}x"))
        n = 20_000
        ours = best(lambda: coordinator.map(tiny, range(n), chunksize=100))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(tiny, range(4))
        theirs = best(lambda: pool.map(tiny, range(n), chunksize=100))
    rows.append((f"tiny tasks ({n}, chunks of 100), per task",
                 f"coordinator {ours / n * 1e6:.2f} us, multiprocessing.Pool "
                 f"{theirs / n * 1e6:.2f} us"))
    ranges = [ParameterRange("x", -5.0, 5.0), ParameterRange("y", -5.0, 5.0)]
    for workers in (1, 2):
        optimizer = DistributedGeneticOptimizer(ranges, population_size=200,
                                                num_workers=workers, seed=1)
        result = optimizer.optimize(lambda p: -(p["x"] ** 2 + p["y"] ** 2), generations=20)
        rows.append((f"genetic optimizer, cheap fitness, {workers} worker(s)",
                     f"{result.evaluations / result.seconds:,.0f} evaluations/s"))
    print("| benchmark | result |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
