"""``TrainConfig``: everything a training run needs, as one frozen dataclass.

Every number is checked against its field's range (:func:`~speechnas._config_io.bounded`) when
the config is built, so a bad value stops ``speechnas train`` before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from speechnas._config_io import (
    MAX_SEED,
    bounded,
    check_bounds,
    dataclass_from_mapping,
    read_yaml,
)
from speechnas.arch import ArchSpec
from speechnas.data.usable import MAX_UTTERANCE_SECONDS
from speechnas.device import check_device_name
from speechnas.errors import ConfigError
from speechnas.presets import PRESETS

__all__ = ["TrainConfig", "load_train_config"]


@dataclass(frozen=True)
class TrainConfig:
    """A training run.

    The defaults are the recipe that learned fastest per CPU-minute in BENCHMARKS.md
    "Recipe study" (a Conformer-CTC on speechocean762 in 10 minutes: 51% dev CER against 73%
    with the settings before it): batches of 40 s of audio, AdamW at 2e-3 after a short
    warm-up, short utterances first in the first epoch, SpecAugment only from step 300, no
    speed perturbation (worth adding for long runs, where overfitting, not speed, limits).

    Attributes:
        train_manifest: canonical manifest of the training set.
        dev_manifest: manifest scored after every epoch (``None``: no dev scoring).
        out_dir: where checkpoints, logs and the resolved config go.
        arch: the architecture.
        tokenizer: ``char`` or ``bpe``.
        vocab_size: BPE vocabulary size (ignored for ``char``).
        max_epochs: epoch limit.
        max_steps: optimiser-step limit (``None``: no limit).
        max_minutes: wall-clock limit for training (``None``: none). Stops at a step boundary.
        stop_after_steps: stop after this many optimiser steps, the learning-rate schedule
            still that of the whole budget: the first steps of the longer run, scored on dev
            where they stop (a cheap look at a run, continued later with ``resume``).
        batch_seconds: padded audio seconds per batch.
        max_batch_size: utterances per batch at most.
        max_utterance_seconds: training skips audio longer than this (reason ``too long``,
            logged and counted); it bounds the memory of a batch. Evaluation scores longer
            audio in windows of this default length (:mod:`speechnas.evaluate.runner`).
        lr: peak AdamW learning rate.
        warmup_steps: linear warm-up steps, then cosine decay to 5% of ``lr`` at the end of the
            run: at ``max_steps``, at ``max_epochs``, or, with ``max_minutes``, at the step
            the minutes are expected to run out (re-estimated from the measured step rate
            after the first steps and every epoch, so such a run's schedule depends on the
            machine's speed, as its length does).
        max_warmup_share: the warm-up never takes more than this share of the run's steps
            (a warm-up longer than a short run is a learning rate that never arrives).
        weight_decay: AdamW weight decay.
        grad_clip: global gradient-norm clip.
        speed_perturb: speed factors drawn per utterance and epoch (``(1.0,)``: none).
        specaugment: SpecAugment on the features in training.
        specaugment_after_steps: SpecAugment starts at this optimiser step (0: at once); a
            young model learns to align faster on clean features.
        short_first_epochs: epochs whose batches go from short to long utterances instead
            of a shuffled order (SortaGrad).
        language_balance: with several languages in the training set, each epoch draws
            language ``l`` of ``n_l`` utterances in proportion to ``n_l ** language_balance``
            (:class:`~speechnas.data.batching.DurationBatchSampler`): 1 keeps the data as it
            is, 0 gives every language the same share of an epoch, 0.3-0.5 is usual for a
            mix of large and small languages.
        inter_ctc_weight: weight ``w`` of the intermediate CTC loss (Lee and Watanabe, 2021):
            the loss is ``(1 - w) * head loss + w * CTC loss`` of the middle layer's output
            through the same projection (:meth:`~speechnas.models.SpeechModel.forward`); 0:
            off. A model without a CTC projection or a layer to tap trains without it (logged).
        zero_init_residuals: a model trained from scratch starts with the last affine map
            of every residual branch of its Conformer, Transformer and CNN layers (CNN
            stacks of 4 blocks or more) at zero
            (:meth:`~speechnas.models.SpeechModel.zero_residual_branches`): each layer starts
            as its skip path. With intermediate CTC this takes a 6-layer Conformer off the
            CTC blank plateau in a few hundred steps (BENCHMARKS.md "Leaving the plateau").
        eval_every: score the dev set every this many epochs.
        max_nonfinite_steps: consecutive NaN/inf losses tolerated (the step is skipped)
            before the run stops with an error.
        seed: seed of initialisation, batching, perturbation and augmentation.
        threads: torch intra-op threads (``None``: torch's default).
        device: where the model trains and is scored: ``cpu``, ``cuda`` or ``cuda:N``
            (:mod:`speechnas.device`).
        init_checkpoint: start from this checkpoint's weights and tokenizer (fine-tuning, a
            warm start); the optimiser, schedule and counters start afresh. Its architecture
            must be ``arch``, unless ``init_by_shape``.
        init_by_shape: the checkpoint may be of another architecture of the family: each
            tensor inherits the region it shares with its namesake there
            (:mod:`speechnas.models.inherit`: leading channels, centre kernel taps) and the
            rest keeps its initial values.
        init_vocabulary: with ``init_checkpoint``, whose tokenizer the run uses: the
            checkpoint's (``checkpoint``), or one built from the training data as without it
            (``data``: a warm start in another language, whose letters the checkpoint's
            vocabulary lacks); then every output row of a token both share is inherited
            (:func:`~speechnas.models.inherit.remap_vocabulary`), a new token's starts afresh.
        tokenizer_manifest: build the tokenizer from this manifest's texts instead of the
            training set's (a run on a subset then shares the full set's vocabulary).
        early_stop_patience: stop when the dev score has not improved for this many dev
            scorings (``None``: never stop early).
        select_metric: the dev score (``wer`` or ``cer``) that picks ``best.pt`` and drives
            early stopping; CER still moves while a young model's WER sits at 100%.
        precision: ``fp32``, or ``bf16``: the training forward pass under bfloat16 autocast
            (matrix products in bf16, weights, optimiser and losses in float32; on the CPU
            fast where it has AVX512-BF16 or AMX). Dev scoring stays in float32.
        simulate_int8: every linear layer computes with the INT8 export's rounding of its
            weights and inputs (straight-through gradients; dev scoring too), so that a
            fine-tune prepares the model for INT8 (:mod:`speechnas.models.int8_sim`).
    """

    train_manifest: str
    dev_manifest: str | None = None
    out_dir: str = "runs/train"
    arch: ArchSpec = field(default_factory=ArchSpec)
    tokenizer: Literal["char", "bpe"] = "char"
    vocab_size: int = bounded(256, ge=8)
    max_epochs: int = bounded(30, ge=1)
    max_steps: int | None = bounded(None, ge=1)
    max_minutes: float | None = bounded(None, gt=0)
    stop_after_steps: int | None = bounded(None, ge=1)
    batch_seconds: float = bounded(40.0, gt=0)
    max_batch_size: int = bounded(64, ge=1)
    max_utterance_seconds: float = bounded(MAX_UTTERANCE_SECONDS, gt=0)
    lr: float = bounded(2e-3, gt=0)
    warmup_steps: int = bounded(100, ge=0)
    max_warmup_share: float = bounded(0.1, gt=0, le=1)
    weight_decay: float = bounded(1e-2, ge=0)
    grad_clip: float = bounded(5.0, gt=0)
    speed_perturb: tuple[float, ...] = bounded((1.0,), gt=0)
    specaugment: bool = True
    specaugment_after_steps: int = bounded(300, ge=0)
    short_first_epochs: int = bounded(1, ge=0)
    language_balance: float = bounded(1.0, ge=0, le=1)
    inter_ctc_weight: float = bounded(0.3, ge=0, lt=1)
    zero_init_residuals: bool = True
    eval_every: int = bounded(1, ge=1)
    max_nonfinite_steps: int = bounded(20, ge=0)
    seed: int = bounded(0, ge=0, le=MAX_SEED)
    threads: int | None = bounded(None, ge=1)
    device: str = "cpu"
    init_checkpoint: str | None = None
    init_by_shape: bool = False
    init_vocabulary: Literal["checkpoint", "data"] = "checkpoint"
    tokenizer_manifest: str | None = None
    early_stop_patience: int | None = bounded(None, ge=1)
    select_metric: Literal["wer", "cer"] = "wer"
    precision: Literal["fp32", "bf16"] = "fp32"
    simulate_int8: bool = False

    def __post_init__(self) -> None:
        check_bounds(self)
        checks = {
            "tokenizer": self.tokenizer in ("char", "bpe"),
            "select_metric": self.select_metric in ("wer", "cer"),
            "precision": self.precision in ("fp32", "bf16"),
            "device": check_device_name(self.device),
            "init_vocabulary": self.init_vocabulary in ("checkpoint", "data"),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r} is invalid")
        if self.init_vocabulary == "data" and self.init_checkpoint is None:
            raise ValueError(
                "TrainConfig.init_vocabulary='data' is about a warm start: set init_checkpoint"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["speed_perturb"] = list(self.speed_perturb)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        data = dict(data)
        arch = data.get("arch")
        if isinstance(arch, str):
            if arch not in PRESETS:
                raise ConfigError(
                    f"{where}.arch: unknown preset {arch!r}; one of {sorted(PRESETS)}"
                )
            data["arch"] = PRESETS[arch].to_dict()
        elif isinstance(arch, dict) and "preset" in arch:
            arch = dict(arch)
            name = arch.pop("preset")
            if name not in PRESETS:
                raise ConfigError(f"{where}.arch.preset: unknown preset {name!r}")
            data["arch"] = {**PRESETS[name].to_dict(), **arch}
        return dataclass_from_mapping(cls, data, where)


def load_train_config(
    path: str | os.PathLike[str], overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Read a YAML training config; relative manifest paths are resolved from the CWD."""
    data = read_yaml(path)
    data.update(overrides or {})
    return TrainConfig.from_dict(data, where=str(path))
