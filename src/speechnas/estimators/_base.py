"""The two concepts of cheap estimation: an ``Estimator`` and the ``PrefixSource`` it may read.

An :class:`Estimator` scores an architecture without training it to the budget. Contract:

- :meth:`Estimator.estimate` returns an :class:`Estimate` whose ``score`` orders
  architectures: **lower is predicted better** (a predicted dev error rate as it is; a proxy
  where more is better, negated).
- ``cpu_seconds`` is the CPU time the estimate took in this process (every thread: building
  the model, its forward and backward passes, any training), measured by the base class
  around :meth:`Estimator._score`, plus what a :class:`PrefixSource` reports its training
  cost (a prefix read from a table was paid for when the table was built; the source says
  what it would have cost here).
- The same architecture, seed and data give the same score (on the CPU): every random draw
  is seeded from the estimator's ``seed``.
- An estimator that must be fitted (a learned predictor) is fitted before it estimates, on
  architectures it is then not asked about when it is validated.

A :class:`PrefixSource` gives the first steps of an architecture's training with the
budget's recipe (its curve and step losses): trained here (:class:`TrainedPrefix`) or read
from a reference table's run (:class:`TablePrefix`), which is the same thing when the seed,
data and recipe are the table's.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from speechnas.arch import ArchSpec

__all__ = ["Estimate", "Estimator", "Prefix", "PrefixSource"]


@dataclass(frozen=True)
class Estimate:
    """An architecture's cheap score (lower: predicted better) and what it cost."""

    score: float
    cpu_seconds: float


@dataclass(frozen=True)
class Prefix:
    """The first ``steps`` optimiser steps of a run.

    Attributes:
        steps: steps taken.
        curve: ``(step, dev CER, dev WER)`` after every epoch within them and at the end.
        step_losses: the training loss of every step.
        cpu_seconds: what these steps (and their dev scoring) cost, in CPU-seconds.
    """

    steps: int
    curve: tuple[tuple[int, float, float], ...]
    step_losses: tuple[float, ...]
    cpu_seconds: float


class PrefixSource(ABC):
    """The first steps of an architecture's training (see the module docstring).

    Contract: :meth:`prefix` returns a :class:`Prefix` of exactly ``steps`` steps (fewer only
    where the budget has fewer), with the budget's learning-rate schedule (not one fitted to
    ``steps``): the same steps the full run takes first.
    """

    @abstractmethod
    def prefix(self, spec: ArchSpec, steps: int) -> Prefix:
        """The first ``steps`` steps of ``spec``'s run."""


class Estimator(ABC):
    """Scores an architecture cheaply (see the module docstring for the contract)."""

    #: Short name, used in tables and configs.
    name: str = "estimator"

    def estimate(self, spec: ArchSpec) -> Estimate:
        """``spec``'s score and its cost."""
        start = time.process_time()
        score, paid = self._score(spec)
        return Estimate(score=float(score), cpu_seconds=time.process_time() - start + paid)

    @abstractmethod
    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        """``(score, CPU-seconds paid elsewhere)``: the second is what a prefix read from a
        table would have cost to train here, 0.0 where everything ran in this call."""
