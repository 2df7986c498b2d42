"""Multi-objective early stopping by predicted final scores (``fidelity.pruner: predicted_front``).

Optuna's pruners judge one objective. This one judges the trial's whole objective point:

1. After every rung but the last, the trial's dev curve so far (its scores after each epoch,
   against the optimiser steps of the whole ladder) is extrapolated to the ladder's last step
   with :func:`speechnas.estimators.extrapolate`: a predicted final WER and CER.
2. The predictor's error at that rung is the root mean square of ``final - predicted`` over
   the study's trials that ran the whole ladder (each keeps its predictions), never below
   ``fidelity.prediction_margin``, which stands alone until ``fidelity.min_trials`` of them
   have one.
3. The trial's optimistic point is its objective values with every trained objective (WER,
   CER) replaced by its prediction less that error; the cheap ones (latency, params, ...) are
   measured. The trial stops when a completed trial's values dominate that point: even if the
   predictor erred in its favour by its usual error, it would not reach the front.

Every trial keeps its predictions (``predictions`` of its attributes), stopped or not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from speechnas.estimators import extrapolate
from speechnas.search.config import SearchConfig
from speechnas.search.objectives import OBJECTIVES
from speechnas.search.pareto import dominates
from speechnas.search.store import TrialRecord

__all__ = ["FrontStop", "ladder_steps", "prediction_error"]

#: The trained metrics a prediction covers.
PREDICTED = ("wer", "cer")


def prediction_error(residuals: Sequence[float], floor: float, min_count: int) -> float:
    """A predictor's error from its residuals (``final - predicted``): their root mean square,
    never below ``floor``, which stands alone until there are ``min_count`` of them."""
    if len(residuals) < min_count:
        return floor
    return max(floor, math.sqrt(sum(x * x for x in residuals) / len(residuals)))


def ladder_steps(config: SearchConfig) -> int:
    """The optimiser steps of the whole ladder (the config has checked that every rung of a
    ``predicted_front`` ladder has its budget in steps:
    :class:`~speechnas.search.config.FidelityConfig`)."""
    return sum(r.steps or 0 for r in config.fidelity.rungs)


class FrontStop:
    """Decides, after a rung, whether a trial stops (see the module docstring).

    Args:
        config: the search's configuration.
        records: the study's trials as they stand when asked (read at each decision).
        metrics: the trial's cheap measurements.
        objective_values: a metrics dict to the values the study minimises.
    """

    def __init__(
        self,
        config: SearchConfig,
        records: Callable[[], list[TrialRecord]],
        metrics: dict[str, float],
        objective_values: Callable[[dict[str, float]], list[float]],
    ) -> None:
        self.config = config
        self.records = records
        self.metrics = metrics
        self.objective_values = objective_values
        self.target = ladder_steps(config)
        self.predictions: list[dict[str, float]] = []

    def predict(self, curve: list[dict[str, Any]]) -> dict[str, float]:
        """The final WER and CER the curve so far extrapolates to."""
        out = {}
        for metric in PREDICTED:
            points = [
                (int(c["step"]), float(c[f"dev_{metric}"]))
                for c in curve
                if c.get(f"dev_{metric}") is not None
            ]
            if not points:
                raise ValueError("no dev scores to predict from")
            out[metric] = extrapolate(points, self.target)
        return out

    def margin(
        self, rung: int, metric: str, records: Sequence[TrialRecord] | None = None
    ) -> float:
        """The predictor's error at ``rung`` for ``metric`` (see the module docstring), over
        ``records`` (default: the study's trials now)."""
        floor = self.config.fidelity.prediction_margin
        residuals: list[float] = []
        for r in self.records() if records is None else records:
            if r.state != "COMPLETE" or r.rung != len(self.config.fidelity.rungs) - 1:
                continue
            for p in r.predictions:
                if p.get("rung") == rung and metric in r.metrics:
                    residuals.append(r.metrics[metric] - p[metric])
        return prediction_error(residuals, floor, self.config.fidelity.min_trials)

    def __call__(self, rung: int, curve: list[dict[str, Any]]) -> bool:
        """Record the prediction after ``rung``; whether the trial should stop."""
        predicted = self.predict(curve)
        records = self.records()  # one read of the study per decision
        margins = {m: self.margin(rung, m, records) for m in PREDICTED}
        self.predictions.append(
            {"rung": rung, **predicted, **{f"{m}_margin": margins[m] for m in PREDICTED}}
        )
        optimistic = {**self.metrics}
        for m in PREDICTED:
            optimistic[m] = predicted[m] - margins[m]
        if all(OBJECTIVES[o].cheap for o in self.config.objectives):
            return False  # nothing the prediction is about is minimised
        point = self.objective_values(optimistic)
        for r in records:
            if r.state != "COMPLETE" or not all(o in r.metrics for o in self.config.objectives):
                continue
            if dominates(self.objective_values(r.metrics), point):
                return True
        return False
