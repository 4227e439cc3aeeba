"""Monte-carlo pi over 4 workers with coordinator.map (the older python-optimizer's
example, made real): `pyopt-python examples/montecarlo_pi.py [samples per task]`.

Each task draws its own points from a seeded generator, so the estimate is the same on
every run and worker count; the hot loop is compiled by the JIT in every worker. Under
`mpirun -n N pyopt-python examples/montecarlo_pi.py` the N ranks are the workers (every
rank runs the script; rank 0 prints)."""

import random
import sys
import time

from python_optimizer.distributed import DistributedCoordinator, rank


def count_inside(task):
    seed, samples = task
    rng = random.Random(seed)
    inside = 0
    for _ in range(samples):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return inside


def main():
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 250_000
    tasks = [(seed, samples) for seed in range(16)]
    started = time.perf_counter()
    with DistributedCoordinator(num_workers=4) as coordinator:
        inside = coordinator.map(count_inside, tasks)
        stats = coordinator.get_stats()
    elapsed = time.perf_counter() - started
    if rank() != 0:
        return
    print(f"pi ~ {4.0 * sum(inside) / (samples * len(tasks)):.6f}")
    print(f"{len(tasks)} tasks on {stats['workers']} workers in {elapsed:.2f} s "
          f"(utilization {stats['utilization']:.0%})", file=sys.stderr)


if __name__ == "__main__":
    main()
