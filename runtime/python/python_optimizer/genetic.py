"""A genetic optimizer over named parameters (the older python-optimizer's API, made
real).

    from python_optimizer.genetic import GeneticOptimizer, ParameterRange

    ranges = [ParameterRange("rate", 0.0, 1.0, "float"),
              ParameterRange("depth", 1, 12, "int"),
              ParameterRange("kind", param_type="choice", choices=["a", "b"])]
    result = GeneticOptimizer(ranges, population_size=40, seed=7).optimize(
        fitness, generations=30)
    result.best_parameters, result.best_fitness, result.history

Each generation keeps the best individuals (elitism), fills the rest with children of
parents picked by tournament, crossed over gene by gene and mutated, and evaluates the
new ones. The fitness function takes a dict of parameters and returns a number (higher
is better, or lower with ``maximize=False``; NaN counts as the worst). All random draws
happen in the calling process from ``seed``, and fitness values are used in population
order, so a seed gives the same result however the evaluations are spread
(``distributed.DistributedGeneticOptimizer`` runs them on workers).
"""

import dataclasses
import math
import random
import sys
import time

__all__ = ["GeneticOptimizer", "OptimizationResult", "ParameterRange"]

_TYPES = ("float", "int", "choice")


@dataclasses.dataclass(frozen=True)
class ParameterRange:
    """One parameter: a float or int in ``[min_value, max_value]``, or one of
    ``choices``."""

    name: str
    min_value: object = None
    max_value: object = None
    param_type: str = "float"
    choices: tuple = None

    def __post_init__(self):
        if self.param_type not in _TYPES:
            raise ValueError(f"parameter {self.name!r}: param_type must be one of "
                             f"{', '.join(_TYPES)}, not {self.param_type!r}")
        if self.param_type == "choice":
            if not self.choices:
                raise ValueError(f"parameter {self.name!r}: a choice needs choices")
            object.__setattr__(self, "choices", tuple(self.choices))
            return
        lo, hi = self.min_value, self.max_value
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))) \
                or math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise ValueError(f"parameter {self.name!r}: needs numbers min_value <= "
                             f"max_value, not {lo!r} and {hi!r}")
        if self.param_type == "int" and (lo != int(lo) or hi != int(hi)):
            raise ValueError(f"parameter {self.name!r}: an int range needs whole bounds")

    def sample(self, rng):
        if self.param_type == "choice":
            return rng.choice(self.choices)
        if self.param_type == "int":
            return rng.randint(int(self.min_value), int(self.max_value))
        return rng.uniform(self.min_value, self.max_value)

    def mutate(self, value, rng):
        if self.param_type == "choice":
            others = [c for c in self.choices if c != value]
            return rng.choice(others) if others else value
        spread = (self.max_value - self.min_value) * 0.1
        if self.param_type == "int":
            step = round(rng.gauss(0.0, max(spread, 1.0)))
            return min(int(self.max_value), max(int(self.min_value), value + (step or 1)))
        return min(self.max_value, max(self.min_value, value + rng.gauss(0.0, spread)))


@dataclasses.dataclass
class OptimizationResult:
    best_parameters: dict
    best_fitness: float
    #: One dict per generation: generation, best_fitness, mean_fitness,
    #: best_parameters, evaluations (so far) and seconds (so far).
    history: list
    evaluations: int
    seconds: float


class GeneticOptimizer:
    """Evaluates fitness in this process (``DistributedGeneticOptimizer`` on workers)."""

    def __init__(self, parameter_ranges, population_size=50, *, mutation_rate=0.1,
                 crossover_rate=0.8, elitism=2, tournament_size=3, maximize=True,
                 seed=None):
        self.parameter_ranges = list(parameter_ranges)
        names = [p.name for p in self.parameter_ranges]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"parameter_ranges needs distinct names, got {names}")
        if not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"population_size must be an int >= 2, not {population_size!r}")
        for name, rate in (("mutation_rate", mutation_rate), ("crossover_rate", crossover_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], not {rate!r}")
        if not 0 <= elitism < population_size:
            raise ValueError(f"elitism must be in [0, population_size), not {elitism!r}")
        if not 1 <= tournament_size <= population_size:
            raise ValueError(f"tournament_size must be in [1, population_size], "
                             f"not {tournament_size!r}")
        self.population_size = population_size
        self.mutation_rate = mutation_rate
        self.crossover_rate = crossover_rate
        self.elitism = elitism
        self.tournament_size = tournament_size
        self.maximize = maximize
        self.seed = seed

    def evaluate(self, fitness_function, population):
        """Fitness values of ``population``, in order (subclasses spread the work)."""
        return [fitness_function(individual) for individual in population]

    def _score(self, value):
        """Sort key: higher is better; NaN the worst."""
        value = float(value)
        if math.isnan(value):
            return -math.inf
        return value if self.maximize else -value

    def _tournament(self, scored, rng):
        contenders = [scored[rng.randrange(len(scored))] for _ in range(self.tournament_size)]
        return max(contenders, key=lambda entry: entry[0])[1]

    def _child(self, scored, rng):
        mother, father = self._tournament(scored, rng), self._tournament(scored, rng)
        if rng.random() < self.crossover_rate:
            child = {p.name: (mother if rng.random() < 0.5 else father)[p.name]
                     for p in self.parameter_ranges}
        else:
            child = dict(mother)
        for parameter in self.parameter_ranges:
            if rng.random() < self.mutation_rate:
                child[parameter.name] = parameter.mutate(child[parameter.name], rng)
        return child

    def optimize(self, fitness_function, generations=100, *, progress=None):
        """Runs ``generations`` generations; returns an ``OptimizationResult``.
        ``progress``: a progress bar on stderr (default: when stderr is a terminal)."""
        if not isinstance(generations, int) or generations < 1:
            raise ValueError(f"generations must be an int >= 1, not {generations!r}")
        rng = random.Random(self.seed)
        started = time.perf_counter()
        population = [{p.name: p.sample(rng) for p in self.parameter_ranges}
                      for _ in range(self.population_size)]
        fitness = list(self.evaluate(fitness_function, population))
        evaluations = len(population)
        history = []
        bar = _progress_bar(generations, progress)
        try:
            for generation in range(generations):
                scored = sorted(
                    ((self._score(f), i) for i, f in enumerate(fitness)), reverse=True)
                ranked = [(score, population[i], fitness[i]) for score, i in scored]
                best_score, best, best_fitness = ranked[0]
                finite = [float(f) for f in fitness if not math.isnan(float(f))]
                mean = sum(finite) / len(finite) if finite else math.nan
                elapsed = time.perf_counter() - started
                history.append({"generation": generation, "best_fitness": best_fitness,
                                "mean_fitness": mean, "best_parameters": dict(best),
                                "evaluations": evaluations, "seconds": elapsed})
                if bar is not None:
                    bar.set_postfix(best=f"{best_fitness:.6g}", mean=f"{mean:.6g}",
                                    evals_per_s=f"{evaluations / max(elapsed, 1e-9):.1f}")
                    bar.update(1)
                if generation == generations - 1:
                    break
                parents = [(score, individual) for score, individual, _ in ranked]
                elites = ranked[:self.elitism]
                children = [self._child(parents, rng)
                            for _ in range(self.population_size - self.elitism)]
                child_fitness = list(self.evaluate(fitness_function, children))
                evaluations += len(children)
                population = [dict(e[1]) for e in elites] + children
                fitness = [e[2] for e in elites] + child_fitness
        finally:
            if bar is not None:
                bar.close()
        # The best of any generation (without elitism a generation can lose it).
        best = max(reversed(history), key=lambda h: self._score(h["best_fitness"]))
        return OptimizationResult(best_parameters=best["best_parameters"],
                                  best_fitness=best["best_fitness"], history=history,
                                  evaluations=evaluations,
                                  seconds=time.perf_counter() - started)


def _progress_bar(generations, progress):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=generations, unit="gen", desc="genetic optimizer", file=sys.stderr)
