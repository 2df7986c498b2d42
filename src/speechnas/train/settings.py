"""``TrainSettings``: the training recipe a search gives every model it trains.

A search's ``train:`` section. Every trial, the final stage's retraining and the supernet
train with these settings; :meth:`TrainSettings.train_config` adds what differs per run
(manifests, output folder, architecture, budgets).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from speechnas._config_io import bounded, check_bounds
from speechnas.device import check_device_name
from speechnas.train.config import TrainConfig

__all__ = ["TrainSettings"]


@dataclass(frozen=True)
class TrainSettings:
    """Training settings shared by every trial (see :class:`~speechnas.train.TrainConfig`,
    whose fields of the same names have the same ranges and meanings).

    ``init_checkpoint`` warm-starts every trial's first rung and the final stage's
    retraining from a trained model (with ``init_by_shape``, one of another architecture of
    the family), and the ``supernet`` strategy's shared weights (always by shape; DARTS
    ignores it); the training that made it is not counted in any trial's budget.
    ``precision`` applies to trials, the final stage and the supernet (DARTS trains in
    float32).
    ``inter_ctc_weight`` and ``zero_init_residuals`` apply to trials and the final stage
    (the supernet and DARTS train their shared weights without them).
    """

    tokenizer: Literal["char", "bpe"] = "char"
    vocab_size: int = bounded(256, ge=8)
    batch_seconds: float = bounded(40.0, gt=0)
    max_batch_size: int = bounded(64, ge=1)
    lr: float = bounded(2e-3, gt=0)
    warmup_steps: int = bounded(100, ge=0)
    max_warmup_share: float = bounded(0.1, gt=0, le=1)
    weight_decay: float = bounded(1e-2, ge=0)
    specaugment: bool = True
    specaugment_after_steps: int = bounded(300, ge=0)
    short_first_epochs: int = bounded(1, ge=0)
    language_balance: float = bounded(1.0, ge=0, le=1)
    inter_ctc_weight: float = bounded(0.3, ge=0, lt=1)
    zero_init_residuals: bool = True
    speed_perturb: tuple[float, ...] = bounded((1.0,), gt=0)
    threads: int | None = bounded(None, ge=1)
    device: str = "cpu"
    precision: Literal["fp32", "bf16"] = "fp32"
    init_checkpoint: str | None = None
    init_by_shape: bool = False
    init_vocabulary: Literal["checkpoint", "data"] = "checkpoint"

    def __post_init__(self) -> None:
        check_bounds(self)
        if not check_device_name(self.device):
            raise ValueError(f"device={self.device!r}; expected cpu, cuda or cuda:N")
        if self.init_vocabulary == "data" and self.init_checkpoint is None:
            raise ValueError("init_vocabulary='data' is about a warm start: set init_checkpoint")

    def train_config(self, **run: Any) -> TrainConfig:
        """A :class:`~speechnas.train.TrainConfig` of these settings plus ``run``'s keys
        (manifests, ``out_dir``, ``arch``, budgets, ...)."""
        return TrainConfig(**{**asdict(self), **run})
