"""Regularised evolution (aging evolution, Real et al. 2019) over a space's encoding.

The population is the ``population`` most recent finished trials: each new trial removes the
oldest from consideration (aging), which keeps the search from resting on one lucky early
architecture. A tournament of ``sample_size`` members picks a parent (lowest fitness); with
probability ``crossover_prob`` a second tournament picks a mate and the child takes each
decision from either parent; then one decision is mutated. Children are decoded through the
encoding, so every child is an architecture of the space, and a mutation always changes the
architecture (not only an inactive field). A child is redrawn (up to ten times) while it is
an architecture evaluated already or being evaluated by another worker (pending).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from speechnas.arch.kinds import Spec
from speechnas.search.pareto import scalar_fitness
from speechnas.search.strategies._base import History, Strategy, StrategyContext
from speechnas.space.kinds import Encoding

__all__ = ["EvolutionStrategy", "crossover", "mutate"]


def mutate(
    encoding: Encoding,
    indices: Mapping[str, int],
    rng: np.random.Generator,
    max_tries: int = 100,
) -> dict[str, int]:
    """``indices`` with one decision changed so that the architecture changes.

    An ordered decision moves to a neighbouring choice half of the time (a small step: one
    kernel size up), otherwise any other choice. Returns ``indices`` unchanged only when no
    try changed the architecture (a space of one architecture).
    """
    base = encoding.decode(indices).arch_id
    decisions = encoding.decisions
    for _ in range(max_tries):
        d = decisions[int(rng.integers(len(decisions)))]
        k = indices[d.name]
        n = len(d.choices)
        if d.ordered and rng.random() < 0.5:
            new = k + (1 if rng.random() < 0.5 else -1)
            if not 0 <= new < n:
                new = k - (new - k)
        else:
            new = int(rng.integers(n - 1))
            new += new >= k  # any index but k
        child = {**indices, d.name: new}
        if encoding.decode(child).arch_id != base:
            return child
    return dict(indices)


def crossover(
    a: Mapping[str, int], b: Mapping[str, int], rng: np.random.Generator
) -> dict[str, int]:
    """Uniform crossover: each decision from either parent with equal probability."""
    return {name: (a[name] if rng.random() < 0.5 else b[name]) for name in a}


class EvolutionStrategy(Strategy):
    """Regularised evolution; see the module doc.

    Options: ``population`` (20), ``sample_size`` (5), ``crossover_prob`` (0.3). Until
    ``population`` trials have finished, trials are drawn uniformly from the space.
    """

    OPTIONS = frozenset({"population", "sample_size", "crossover_prob"})

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.population = int(context.option("population", 20))
        self.sample_size = int(context.option("sample_size", 5))
        self.crossover_prob = float(context.option("crossover_prob", 0.3))
        if self.population < 2 or not 1 <= self.sample_size <= self.population:
            raise ValueError(
                f"evolution: population={self.population}, sample_size={self.sample_size}; "
                "need population >= 2 and 1 <= sample_size <= population"
            )
        if not 0.0 <= self.crossover_prob <= 1.0:
            raise ValueError(f"evolution: crossover_prob={self.crossover_prob} not in [0, 1]")

    def propose(self, past: History, trial_number: int, rng: np.random.Generator) -> Spec:
        if len(past) < self.population:
            return self.encoding.space.sample(rng)
        members = list(range(len(past) - self.population, len(past)))  # aging: newest only
        fitness = scalar_fitness([past.values[i] for i in members])

        def tournament() -> dict[str, int]:
            picks = rng.choice(len(members), size=self.sample_size, replace=False)
            best = min((int(j) for j in picks), key=lambda j: (fitness[j], j))
            return dict(past.indices[members[best]])

        # Evaluated already, or being evaluated by another worker (pending).
        seen = {self.encoding.decode(ix).arch_id for ix in past.indices} | past.pending
        child: dict[str, int] = {}
        for _ in range(10):  # prefer an architecture not evaluated yet
            parent = tournament()
            if rng.random() < self.crossover_prob:
                parent = crossover(parent, tournament(), rng)
            child = mutate(self.encoding, parent, rng)
            if self.encoding.decode(child).arch_id not in seen:
                break
        return self.encoding.decode(child)
