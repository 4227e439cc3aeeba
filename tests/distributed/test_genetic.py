"""python_optimizer.genetic and DistributedGeneticOptimizer: the optimum of a known
function is found, a seed gives the same result on any worker count, evaluations
really run on the workers, and a progress bar shows on request."""

from pyopt_testing import PYOPT, run
from pyopt_testing import write_script as write

SCRIPT = """
    import json, os, sys
    from python_optimizer.distributed import DistributedGeneticOptimizer
    from python_optimizer.genetic import GeneticOptimizer, ParameterRange

    log = sys.argv[1]
    ranges = [ParameterRange("x", -1.0, 1.0, "float"),
              ParameterRange("n", 0, 20, "int"),
              ParameterRange("kind", param_type="choice", choices=["a", "b", "c"])]

    def fitness(p):
        with open(log, "a") as out:
            out.write(f"{os.getpid()}\\n")
        return -(p["x"] - 0.3) ** 2 - (p["n"] - 7) ** 2 + (p["kind"] == "b")

    def summary(result):
        return (round(result.best_parameters["x"], 12), result.best_parameters["n"],
                result.best_parameters["kind"], result.best_fitness, result.evaluations,
                [round(h["mean_fitness"], 9) for h in result.history])

    options = dict(population_size=30, seed=11)
    local = GeneticOptimizer(ranges, **options).optimize(fitness, generations=25)
    other = GeneticOptimizer(ranges, population_size=30, seed=12).optimize(
        fitness, generations=25)
    os.remove(log)
    one = DistributedGeneticOptimizer(ranges, num_workers=1, **options).optimize(
        fitness, generations=25)
    two = DistributedGeneticOptimizer(ranges, num_workers=2, **options).optimize(
        fitness, generations=25, progress=True)
    print(summary(local) == summary(one) == summary(two), summary(local) != summary(other))
    best = local.best_parameters
    print(abs(best["x"] - 0.3) < 0.1, best["n"], best["kind"], local.best_fitness > 0.99)
    print(len(local.history), local.evaluations == 30 + 24 * 28)
    pids = set(open(log).read().split())
    print(os.getpid() not in map(int, pids), len(pids) >= 3)  # 1 + 2 workers
"""


def test_the_optimum_is_found_the_same_on_any_worker_count(tmp_path):
    script = write(tmp_path, "ga.py", SCRIPT)
    done = run(PYOPT, [script, str(tmp_path / "pids.log")], timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True True", "True 7 b True", "25 True", "True True"]
    # The progress bar (asked for) shows the generation count and the best so far.
    assert "genetic optimizer" in done.stderr and "25/25" in done.stderr
    assert "best=" in done.stderr and "evals_per_s=" in done.stderr


def test_bad_parameters_are_clear_errors(tmp_path):
    script = write(tmp_path, "bad.py", """
        from python_optimizer.genetic import GeneticOptimizer, ParameterRange
        for make in (lambda: ParameterRange("x", 2.0, 1.0),
                     lambda: ParameterRange("k", param_type="choice"),
                     lambda: ParameterRange("t", 0, 1, "complex"),
                     lambda: ParameterRange("i", 0.5, 3, "int"),
                     lambda: GeneticOptimizer([ParameterRange("x", 0, 1)] * 2),
                     lambda: GeneticOptimizer([ParameterRange("x", 0, 1)], elitism=60)):
            try:
                make()
            except ValueError as e:
                print(e)
    """)
    done = run(PYOPT, [script])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "parameter 'x': needs numbers min_value <= max_value, not 2.0 and 1.0",
        "parameter 'k': a choice needs choices",
        "parameter 't': param_type must be one of float, int, choice, not 'complex'",
        "parameter 'i': an int range needs whole bounds",
        "parameter_ranges needs distinct names, got ['x', 'x']",
        "elitism must be in [0, population_size), not 60",
    ]
