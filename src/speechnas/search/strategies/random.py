"""Random search (uniform over distinct architectures) and grid search (every one, once)."""

from __future__ import annotations

import math

import numpy as np

from speechnas.arch.kinds import Spec
from speechnas.search.strategies._base import History, Strategy, StrategyContext

__all__ = ["GridStrategy", "RandomStrategy"]


class RandomStrategy(Strategy):
    """Each trial an architecture drawn uniformly from the space's distinct ones.

    Uniform over architectures (by the space's dynamic programme), not over encodings: an
    encoding draw would favour architectures that many index assignments decode to.
    """

    def propose(self, past: History, trial_number: int, rng: np.random.Generator) -> Spec:
        return self.encoding.space.sample(rng)


class GridStrategy(Strategy):
    """Every architecture of a small space exactly once, in a seeded, spread-out order.

    Trial ``n`` gets ``spec_at((a * n + b) mod count)`` with ``a`` coprime to ``count``: a
    permutation, so the first ``count`` trials cover the space without repeats and a small
    budget still samples all of it rather than one corner.

    Raises:
        ValueError: the space holds more than ``max_size`` architectures (option, default
            100000): a grid over it would never finish; use random search.
    """

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.size = self.encoding.space.count()
        limit = int(context.option("max_size", 100_000))
        if self.size > limit:
            raise ValueError(
                f"grid: the space holds {self.size:.3g} architectures, more than max_size="
                f"{limit}; shrink the space or use random search"
            )
        rng = np.random.default_rng(context.seed)
        self._offset = int(rng.integers(self.size))
        step = int(rng.integers(1, self.size)) if self.size > 1 else 1
        while math.gcd(step, self.size) != 1:
            step += 1
        self._step = step

    def propose(self, past: History, trial_number: int, rng: np.random.Generator) -> Spec:
        index = (self._offset + self._step * trial_number) % self.size
        return self.encoding.space.spec_at(index)
