"""A three-parameter genetic search with fitness evaluations on 2 workers (the older
python-optimizer's example, made real): `pyopt-python examples/genetic_search.py`.

The same seed gives the same answer on any number of workers, and under
`mpirun -n N pyopt-python examples/genetic_search.py` on N ranks (rank 0 prints)."""

import math

from python_optimizer.distributed import DistributedGeneticOptimizer, rank
from python_optimizer.genetic import ParameterRange


def fitness(params):
    # A bumpy surface whose best point is near lr=0.01, layers=4, activation="tanh".
    lr, layers = params["learning_rate"], params["layers"]
    score = -((math.log10(lr) + 2.0) ** 2) - 0.1 * (layers - 4) ** 2
    score += 0.05 * math.sin(40 * lr)
    return score + {"relu": 0.0, "tanh": 0.5, "sigmoid": 0.2}[params["activation"]]


def main():
    ranges = [
        ParameterRange("learning_rate", 1e-4, 1e-1, "float"),
        ParameterRange("layers", 1, 10, "int"),
        ParameterRange("activation", param_type="choice", choices=["relu", "tanh", "sigmoid"]),
    ]
    optimizer = DistributedGeneticOptimizer(ranges, population_size=40, num_workers=2,
                                            seed=2024)
    result = optimizer.optimize(fitness, generations=30)
    best = result.best_parameters
    if rank() != 0:
        return
    print(f"best: learning_rate={best['learning_rate']:.4g} layers={best['layers']} "
          f"activation={best['activation']} fitness={result.best_fitness:.4f}")
    print(f"{result.evaluations} evaluations in {len(result.history)} generations")


if __name__ == "__main__":
    main()
