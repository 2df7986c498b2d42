"""Cheap estimators: scores of an architecture that cost a small share of training it.

One interface (:class:`Estimator`, contract in :mod:`speechnas.estimators._base`): zero-cost
proxies at initialisation (:mod:`~speechnas.estimators.zero_cost`), estimators that read the
first steps of a run (:mod:`~speechnas.estimators.training`: training speed, the early dev
score, learning-curve extrapolation) from a :class:`PrefixSource`, and a learned predictor
(:mod:`~speechnas.estimators.predictor`), and a supernet's inherited score, as it is or briefly
fine-tuned (:mod:`~speechnas.estimators.supernet`). How well each orders architectures, against
reference tables (:mod:`speechnas.bench`), is in BENCHMARKS.md "Cheap estimators".
"""

from __future__ import annotations

from speechnas.estimators._base import Estimate, Estimator, Prefix, PrefixSource
from speechnas.estimators.predictor import LearnedPredictor, cross_validate, spec_features
from speechnas.estimators.prefix import TablePrefix, TrainedPrefix
from speechnas.estimators.supernet import FineTunedInherited, InheritedScore
from speechnas.estimators.training import (
    CurveExtrapolation,
    EarlyScore,
    TrainingSpeed,
    extrapolate,
)
from speechnas.estimators.zero_cost import PROXIES, ProbeBatch, ZeroCostEstimator

__all__ = [
    "PROXIES",
    "CurveExtrapolation",
    "EarlyScore",
    "Estimate",
    "Estimator",
    "FineTunedInherited",
    "InheritedScore",
    "LearnedPredictor",
    "Prefix",
    "PrefixSource",
    "ProbeBatch",
    "TablePrefix",
    "TrainedPrefix",
    "TrainingSpeed",
    "ZeroCostEstimator",
    "cross_validate",
    "extrapolate",
    "spec_features",
]
