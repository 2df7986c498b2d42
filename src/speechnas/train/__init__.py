"""Training: one explicit loop, its config and checkpoint I/O."""

from __future__ import annotations

from speechnas.train.checkpoint import load_checkpoint, load_model, save_checkpoint
from speechnas.train.config import TrainConfig, load_train_config
from speechnas.train.loop import (
    TrainingDiverged,
    TrainResult,
    config_changes,
    resumable_checkpoint,
    train,
)
from speechnas.train.settings import TrainSettings

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainSettings",
    "TrainingDiverged",
    "config_changes",
    "load_checkpoint",
    "load_model",
    "load_train_config",
    "resumable_checkpoint",
    "save_checkpoint",
    "train",
]
