"""Differentiable architecture search for speech (DARTS) with a latency penalty."""

from __future__ import annotations

from speechnas.darts.mixed import MixedLayer
from speechnas.darts.model import DartsModel
from speechnas.darts.train import DartsConfig, DartsResult, train_darts

__all__ = ["DartsConfig", "DartsModel", "DartsResult", "MixedLayer", "train_darts"]
