"""DistributedCoordinator on MPI ranks (issue 8 item 7):
`mpirun -n 2 pyopt-python benches/distributed/mpi.py` (as root add
`--allow-run-as-root`; more ranks than cores need `--oversubscribe`).

- speed-up of the collective `coordinator.map` over a serial loop on CPU-bound tasks
  (the serial loop runs on rank 0 alone; best of 5);
- per-task overhead on tiny tasks against mpi4py with the split most mpi4py scripts
  write by hand (`items[rank::size]`, then `allgather`), and against the ranks' own
  `allgather` of precomputed results (the floor: moving the results);
- genetic optimizer evaluations per second with a cheap fitness function.
Rank 0 prints the figures as a markdown table."""

import time

from mpi4py import MPI

from coordinator import REPEAT, cpu_task, tiny  # the worker-process benchmark's tasks
from python_optimizer import distributed as d
from python_optimizer.distributed import DistributedCoordinator, DistributedGeneticOptimizer
from python_optimizer.genetic import ParameterRange


def best(function):
    times = []
    for _ in range(REPEAT):
        d.barrier()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return max(d.allgather(min(times)))  # the slowest rank's best


def mpi4py_map(function, items):
    comm = MPI.COMM_WORLD
    mine = [function(x) for x in items[comm.rank::comm.size]]
    parts = comm.allgather(mine)
    results = [None] * len(items)
    for rank, part in enumerate(parts):
        results[rank::comm.size] = part
    return results


def main():
    ranks = d.size()
    tasks = list(range(16))
    rows = []
    serial = None
    if d.rank() == 0:
        serial = min(_timed(lambda: [cpu_task(t) for t in tasks]) for _ in range(REPEAT))
    serial = d.bcast(serial)
    coordinator = DistributedCoordinator()
    parallel = best(lambda: coordinator.map(cpu_task, tasks, chunksize=1))
    assert coordinator.map(cpu_task, tasks) == [cpu_task(t) for t in tasks]
    rows.append((f"CPU-bound map, 16 tasks, {ranks} ranks",
                 f"serial {serial * 1e3:.0f} ms, map {parallel * 1e3:.0f} ms: "
                 f"{serial / parallel:.2f}x"))
    n = 20_000
    items = list(range(n))
    assert coordinator.map(tiny, items, chunksize=100) == mpi4py_map(tiny, items)
    ours = best(lambda: coordinator.map(tiny, items, chunksize=100))
    theirs = best(lambda: mpi4py_map(tiny, items))
    floor = best(lambda: d.allgather([x + 1 for x in items[d.rank()::ranks]]))
    rows.append((f"tiny tasks ({n}, chunks of 100), per task, {ranks} ranks",
                 f"coordinator {ours / n * 1e6:.2f} us, mpi4py split + allgather "
                 f"{theirs / n * 1e6:.2f} us, allgather of the results alone "
                 f"{floor / n * 1e6:.2f} us"))
    ranges = [ParameterRange("x", -5.0, 5.0), ParameterRange("y", -5.0, 5.0)]
    optimizer = DistributedGeneticOptimizer(ranges, population_size=200, seed=1)
    result = optimizer.optimize(lambda p: -(p["x"] ** 2 + p["y"] ** 2), generations=20)
    rows.append((f"genetic optimizer, cheap fitness, {ranks} ranks",
                 f"{result.evaluations / result.seconds:,.0f} evaluations/s"))
    if d.rank() == 0:
        print("| benchmark | result |")
        print("|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")


def _timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
