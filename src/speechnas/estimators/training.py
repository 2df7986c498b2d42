"""Estimators that read the first steps of a run (:class:`~speechnas.estimators.PrefixSource`).

- :class:`TrainingSpeed`: the sum of the training losses over the first ``steps`` steps
  (training speed estimation, Ru et al., 2021): a model that learns faster early tends to
  end better.
- :class:`EarlyScore`: the dev error where the first ``steps`` steps end, with the budget's
  schedule (early stopping at a lower rung of the same run).
- :class:`CurveExtrapolation`: the dev error curve of the first ``steps`` steps fitted by
  ``e(t) = c + (e0 - c) exp(-t / tau)`` (``e0``: the error of a model that emits nothing,
  1.0), read at the budget's ``target_steps``: a parametric learning-curve extrapolation
  (Domhan et al., 2015, with one of their curve families). With a single scored point the
  curve through it and ``e0`` is not determined; the point itself is returned.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from speechnas.arch import ArchSpec
from speechnas.estimators._base import Estimator, PrefixSource

__all__ = ["CurveExtrapolation", "EarlyScore", "TrainingSpeed", "extrapolate"]

#: The error rate of a model that emits nothing: every reference token deleted.
START_ERROR = 1.0


def _metric_index(metric: str) -> int:
    if metric not in ("cer", "wer"):
        raise ValueError(f"metric {metric!r}; expected cer or wer")
    return 1 if metric == "cer" else 2


class TrainingSpeed(Estimator):
    """The sum of the first ``steps`` training losses (lower: predicted better)."""

    def __init__(self, source: PrefixSource, steps: int) -> None:
        self.source = source
        self.steps = steps
        self.name = f"training_speed@{steps}"

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        prefix = self.source.prefix(spec, self.steps)
        if len(prefix.step_losses) < prefix.steps:
            raise ValueError(
                f"the losses of {len(prefix.step_losses)} steps of {spec.arch_id} are known; "
                f"{prefix.steps} asked for"
            )
        return float(sum(prefix.step_losses[: prefix.steps])), prefix.cpu_seconds


class EarlyScore(Estimator):
    """The dev ``metric`` after the first ``steps`` steps."""

    def __init__(self, source: PrefixSource, steps: int, metric: str = "cer") -> None:
        self.source = source
        self.steps = steps
        self.metric = _metric_index(metric)
        self.name = f"early_{metric}@{steps}"

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        prefix = self.source.prefix(spec, self.steps)
        if not prefix.curve:
            raise ValueError(f"no dev score within the first {self.steps} steps")
        return float(prefix.curve[-1][self.metric]), prefix.cpu_seconds


def extrapolate(points: list[tuple[int, float]], target: int) -> float:
    """``e(target)`` of the curve ``c + (1 - c) exp(-t / tau)`` fitted to ``points``
    (``(step, error)``) by least squares, ``0 <= c <= 1``; with one point, that point."""
    if not points:
        raise ValueError("no points to extrapolate from")
    if len(points) == 1:
        return float(points[0][1])
    t = np.array([p[0] for p in points], dtype=float)
    e = np.array([p[1] for p in points], dtype=float)
    scale = float(t.max())

    def curve(x: np.ndarray, c: float, rate: float) -> np.ndarray:
        return c + (START_ERROR - c) * np.exp(-rate * x / scale)

    try:
        with warnings.catch_warnings():  # two points: exact, with no covariance to estimate
            warnings.simplefilter("ignore", OptimizeWarning)
            (c, rate), _ = curve_fit(
                curve, t, e, p0=(float(e.min()), 1.0), bounds=([0.0, 1e-6], [1.0, 1e3])
            )
    except (RuntimeError, ValueError):
        return float(e[-1])
    value = float(curve(np.array([float(target)]), c, rate)[0])
    return value if math.isfinite(value) else float(e[-1])


class CurveExtrapolation(Estimator):
    """The dev ``metric`` at ``target_steps``, extrapolated from the first ``steps``."""

    def __init__(
        self, source: PrefixSource, steps: int, target_steps: int, metric: str = "cer"
    ) -> None:
        self.source = source
        self.steps = steps
        self.target_steps = target_steps
        self.metric = _metric_index(metric)
        self.name = f"curve_{metric}@{steps}"

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        prefix = self.source.prefix(spec, self.steps)
        points = [(c[0], c[self.metric]) for c in prefix.curve]
        return extrapolate(points, self.target_steps), prefix.cpu_seconds
