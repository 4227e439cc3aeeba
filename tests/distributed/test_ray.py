"""The Ray backend: a real local Ray instance whose workers run pyopt-python gives
list(map(...))'s results and exceptions, reports a dying worker, and runs the genetic
optimizer to the same result as in-process."""

from pyopt_testing import PYOPT, run
from pyopt_testing import write_script as write


def test_ray_map_exceptions_dying_workers_and_the_genetic_optimizer(tmp_path):
    script = write(tmp_path, "job.py", """
        import os, sys
        from python_optimizer.distributed import (BackendType, DistributedCoordinator,
                                                  DistributedGeneticOptimizer,
                                                  WorkerDiedError)
        from python_optimizer.genetic import GeneticOptimizer, ParameterRange

        def check(x):
            if x == 7:
                raise KeyError(x)
            return x

        def fitness(p):
            return -(p["x"] - 1.0) ** 2

        if __name__ == "__main__":
            with DistributedCoordinator(BackendType.RAY, num_workers=2) as c:
                print(c.map(lambda x: x * x, range(10), chunksize=3))
                runs_in = set(c.map(lambda _: os.path.basename(sys.executable), range(4)))
                pids = set(c.map(lambda _: os.getpid(), range(4), chunksize=1))
                print(runs_in, os.getpid() not in pids)
                try:
                    c.map(check, range(20), chunksize=2)
                except KeyError as e:
                    print("raised", e, "check" in str(e.__cause__))
                try:
                    c.map(lambda x: os._exit(3) if x == 2 else x, range(4), chunksize=1)
                except WorkerDiedError as e:
                    print("died:", str(e).split(" (")[0])
                print(c.map(abs, [-1]))
            ranges = [ParameterRange("x", -2.0, 2.0)]
            local = GeneticOptimizer(ranges, population_size=10, seed=3).optimize(
                fitness, generations=4)
            remote = DistributedGeneticOptimizer(ranges, population_size=10, num_workers=2,
                                                 backend="ray", seed=3).optimize(
                fitness, generations=4)
            print(local.best_parameters == remote.best_parameters)
    """)
    done = run(PYOPT, [script], cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # Ray forwards its own messages (a dead worker's) to stdout, prefixed "(raylet)".
    lines = [line for line in done.stdout.splitlines() if "(raylet)" not in line]
    assert lines == [
        "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]",
        "{'pyopt-python'} True",
        "raised 7 True",
        "died: a worker process died while running <lambda> on items 3..3 of 4",
        "[1]",
        "True",
    ]
