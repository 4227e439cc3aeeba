"""The Dask backend: a real LocalCluster of pyopt-python workers gives list(map(...))'s
results and exceptions, never merges equal tasks, seeds its workers, and runs the
genetic optimizer to the same result as in-process."""

import re

from pyopt_testing import PYOPT, run
from pyopt_testing import write_script as write


def test_dask_map_results_exceptions_and_unmerged_tasks(tmp_path):
    script = write(tmp_path, "job.py", """
        import os, random, sys, traceback
        from python_optimizer.distributed import (BackendType, DistributedCoordinator,
                                                  check_backend_availability)

        log = sys.argv[1]

        def record(x):
            with open(log, "a") as out:
                out.write(f"{os.getpid()} {x}\\n")
            return x * 10

        def check(x):
            if x == 7:
                raise KeyError(x)
            return x

        if __name__ == "__main__":
            print(check_backend_availability()[BackendType.DASK])
            with DistributedCoordinator(BackendType.DASK, num_workers=2, seed=5) as c:
                print(c.map(record, [1, 1, 1, 2], chunksize=1))
                lines = open(log).read().split()
                # Three equal tasks ran three times (never merged), in workers.
                print(lines[1::2].count("1"), str(os.getpid()) not in lines[0::2])
                try:
                    c.map(check, range(20), chunksize=2)
                except KeyError as e:
                    print("raised", e, "check" in str(e.__cause__))
                print(c.map(lambda x: x + 1, range(5)))
                draws = c.map(lambda _: (os.getpid(), random.random()), range(8), chunksize=1)
                by_worker = {pid: value for pid, value in draws}
                print(len(set(by_worker.values())) == len(by_worker))
                print(c.get_stats()["backend"])
    """)
    done = run(PYOPT, [script, str(tmp_path / "calls.log")], cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "True", "[10, 10, 10, 20]", "3 True", "raised 7 True", "[1, 2, 3, 4, 5]", "True",
        "dask",
    ]


def test_genetic_optimizer_on_dask_matches_in_process(tmp_path):
    script = write(tmp_path, "ga.py", """
        from python_optimizer.distributed import BackendType, DistributedGeneticOptimizer
        from python_optimizer.genetic import GeneticOptimizer, ParameterRange

        ranges = [ParameterRange("x", -2.0, 2.0), ParameterRange("k", 0, 9, "int")]

        def fitness(p):
            return -(p["x"] - 1.0) ** 2 - abs(p["k"] - 3)

        if __name__ == "__main__":
            local = GeneticOptimizer(ranges, population_size=20, seed=3).optimize(
                fitness, generations=8)
            dask = DistributedGeneticOptimizer(ranges, population_size=20, num_workers=2,
                                               backend=BackendType.DASK, seed=3).optimize(
                fitness, generations=8)
            print(local.best_parameters == dask.best_parameters,
                  local.best_fitness == dask.best_fitness)
    """)
    done = run(PYOPT, [script], cwd=tmp_path, timeout=180)
    assert (done.returncode, done.stdout) == (0, "True True\n"), done.stdout + done.stderr


def test_a_task_killing_its_dask_workers_is_a_worker_died_error(tmp_path):
    script = write(tmp_path, "die.py", """
        import os
        from python_optimizer.distributed import (BackendType, DistributedCoordinator,
                                                  WorkerDiedError)

        if __name__ == "__main__":
            with DistributedCoordinator(BackendType.DASK, num_workers=2) as c:
                try:
                    c.map(lambda x: os._exit(3) if x == 2 else x, range(4), chunksize=1)
                except WorkerDiedError as e:
                    print("died:", e)
                print(c.map(abs, [-1]))
    """)
    done = run(PYOPT, [script], cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # Item 3 killed its worker. The error names a task Dask lost with it: item 3, or
    # any item Dask had queued on the same worker (seen: 1, 2 or 3), one item per task.
    assert re.match(r"died: a worker process died while running <lambda> on items "
                    r"([1-4])\.\.\1 of 4", lines[0]), lines
    assert lines[1] == "[1]"
