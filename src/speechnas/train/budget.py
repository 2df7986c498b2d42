"""A training budget in optimiser steps, wall-clock minutes or both (whichever runs out
first), for loops that run until it is spent rather than for a number of epochs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StepBudget"]

#: The schedule length when only minutes bound a run: the rate stays at its peak after warm-up.
_UNBOUNDED_STEPS = 10**9


@dataclass(frozen=True)
class StepBudget:
    """``max_steps`` steps or ``max_minutes`` minutes, whichever comes first.

    Raises:
        ValueError: neither is set, fewer than one step, or non-positive minutes.
    """

    max_steps: int | None = None
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_minutes is None:
            raise ValueError("set max_steps or max_minutes: training runs until one runs out")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps!r}; expected >= 1")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes={self.max_minutes!r}; expected > 0")

    @property
    def total_steps(self) -> int:
        """The learning-rate schedule's length."""
        return self.max_steps if self.max_steps is not None else _UNBOUNDED_STEPS

    def spent(self, step: int, seconds: float) -> bool:
        """Whether ``step`` steps taken in ``seconds`` exhaust the budget."""
        over_time = self.max_minutes is not None and seconds >= 60.0 * self.max_minutes
        return step >= self.total_steps or over_time
