"""Training a TTS acoustic model on a prepared corpus (:mod:`speechnas.tts.corpus`).

Batches hold utterances of similar length up to ``batch_frames`` padded mel frames (drawn
in a seeded order each epoch). The model learns normalised targets: each mel band by the
training set's mean and deviation (:class:`MelNorm`, stored with the model so inference
gives log-mels back), pitch and energy by the corpus's statistics. The loss is the model's
(:meth:`~speechnas.models.tts.AcousticModel.loss`: mel L1, and the MSE of log durations,
pitch and energy); AdamW with linear warm-up and cosine decay; gradient clipping; a step with
a non-finite loss is skipped, and too many in a row stop the run with an error. Seeded: the
same corpus, spec and settings give the same weights on the CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from speechnas.arch.tts import TTSSpec
from speechnas.errors import UserError
from speechnas.models.tts import AcousticModel, build_tts_model
from speechnas.train.schedule import warmup_cosine, warmup_length
from speechnas.tts.corpus import TTSUtterance

__all__ = ["MelNorm", "TTSBatch", "TTSTrainResult", "TTSTrainSettings", "batches", "train_tts"]


@dataclass(frozen=True)
class TTSTrainSettings:
    """How a TTS model is trained (module docstring)."""

    steps: int = 3000
    batch_frames: int = 6000
    lr: float = 1e-3
    warmup_steps: int = 300
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    seed: int = 0
    max_nonfinite_steps: int = 20

    def __post_init__(self) -> None:
        for name in ("steps", "batch_frames", "max_nonfinite_steps"):
            if getattr(self, name) < (0 if name == "max_nonfinite_steps" else 1):
                raise ValueError(f"TTSTrainSettings.{name}={getattr(self, name)!r} is too small")
        if not (self.lr > 0 and self.grad_clip > 0 and self.weight_decay >= 0):
            raise ValueError("TTSTrainSettings: lr and grad_clip must be > 0, weight_decay >= 0")


@dataclass(frozen=True)
class MelNorm:
    """Per-band mean and deviation of the training mels; (M,) each."""

    mean: Tensor
    std: Tensor

    @classmethod
    def of(cls, utterances: Sequence[TTSUtterance]) -> MelNorm:
        frames = torch.cat([u.mel for u in utterances]).double()
        return cls(frames.mean(0).float(), frames.std(0).clamp_min(1e-3).float())

    def apply(self, mel: Tensor) -> Tensor:
        return (mel - self.mean) / self.std

    def undo(self, mel: Tensor) -> Tensor:
        return mel * self.std + self.mean

    def to_state(self) -> dict[str, Tensor]:
        return {"mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class TTSBatch:
    """Padded tensors of a batch: tokens (B, N), token_lens (B,), mel (B, T, M) normalised,
    durations (B, N), pitch and energy (B, N) normalised."""

    tokens: Tensor
    token_lens: Tensor
    mel: Tensor
    durations: Tensor
    pitch: Tensor
    energy: Tensor


def collate(
    utterances: Sequence[TTSUtterance],
    norm: MelNorm,
    stats: dict[str, tuple[float, float]],
) -> TTSBatch:
    n = max(len(u.tokens) for u in utterances)
    t = max(u.mel.shape[0] for u in utterances)
    b, m = len(utterances), utterances[0].mel.shape[1]
    tokens = torch.zeros(b, n, dtype=torch.long)
    durations = torch.zeros(b, n, dtype=torch.long)
    pitch, energy = torch.zeros(b, n), torch.zeros(b, n)
    mel = torch.zeros(b, t, m)
    pm, ps = stats["pitch"]
    em, es = stats["energy"]
    for i, u in enumerate(utterances):
        k = len(u.tokens)
        tokens[i, :k] = torch.tensor(u.tokens)
        durations[i, :k] = torch.tensor(u.durations)
        pitch[i, :k] = torch.tensor([(p - pm) / ps if p > 0 else 0.0 for p in u.pitch])
        energy[i, :k] = (torch.tensor(u.energy) - em) / es
        mel[i, : u.mel.shape[0]] = norm.apply(u.mel)
    lens = torch.tensor([len(u.tokens) for u in utterances])
    return TTSBatch(tokens, lens, mel, durations, pitch, energy)


def batches(
    utterances: Sequence[TTSUtterance], batch_frames: int, rng: np.random.Generator
) -> list[list[TTSUtterance]]:
    """Utterances of similar length grouped up to ``batch_frames`` padded frames (an
    utterance longer than that alone), the groups in a random order."""
    order = sorted(range(len(utterances)), key=lambda i: utterances[i].mel.shape[0])
    groups: list[list[TTSUtterance]] = []
    current: list[TTSUtterance] = []
    for i in order:
        u = utterances[i]
        if current and u.mel.shape[0] * (len(current) + 1) > batch_frames:
            groups.append(current)
            current = []
        current.append(u)
    if current:
        groups.append(current)
    return [groups[i] for i in rng.permutation(len(groups))]


@dataclass
class TTSTrainResult:
    """The trained model, its normalisation and how training went."""

    model: AcousticModel
    spec: TTSSpec
    norm: MelNorm
    stats: dict[str, tuple[float, float]]
    steps: int
    seconds: float
    curve: list[dict[str, float]] = field(default_factory=list)
    nonfinite_steps: int = 0

    def state(self, tokenizer_state: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the model (weights, spec, tokenizer, normalisation)."""
        return {
            "tts_spec": self.spec.to_dict(),
            "model": self.model.state_dict(),
            "tokenizer": tokenizer_state,
            "mel_norm": self.norm.to_state(),
            "stats": {k: list(v) for k, v in self.stats.items()},
            "steps": self.steps,
        }


def train_tts(
    spec: TTSSpec,
    train: Sequence[TTSUtterance],
    *,
    vocab_size: int,
    stats: dict[str, tuple[float, float]],
    settings: TTSTrainSettings | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    log_every: int = 50,
) -> TTSTrainResult:
    """Train ``spec`` on ``train`` for ``settings.steps`` optimiser steps (module docstring).

    Raises:
        UserError: no training utterance, or the loss stayed non-finite.
    """
    settings = settings or TTSTrainSettings()
    if not train:
        raise UserError("no training utterance")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = build_tts_model(spec, vocab_size).train()
    norm = MelNorm.of(train)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    warmup = warmup_length(settings.warmup_steps, settings.steps, 0.2)
    start = time.perf_counter()
    step, bad, bad_total = 0, 0, 0
    curve: list[dict[str, float]] = []
    window: list[dict[str, float]] = []
    while step < settings.steps:
        for group in batches(train, settings.batch_frames, rng):
            if step >= settings.steps:
                break
            b = collate(group, norm, stats)
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(
                    step, peak=settings.lr, warmup=warmup, total=settings.steps
                )
            loss, parts = model.loss(
                b.tokens,
                b.token_lens,
                b.mel,
                b.durations,
                b.pitch if spec.pitch else None,
                b.energy if spec.energy else None,
            )
            opt.zero_grad(set_to_none=True)
            if not math.isfinite(float(loss.detach())):
                bad, bad_total = bad + 1, bad_total + 1
                if bad > settings.max_nonfinite_steps:
                    raise UserError(f"TTS training diverged: {bad} non-finite losses in a row")
                step += 1
                continue
            bad = 0
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            opt.step()
            step += 1
            window.append({"loss": float(loss.detach()), **parts})
            if step % log_every == 0 or step == settings.steps:
                row = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                row["step"] = float(step)
                curve.append(row)
                window = []
                if on_step is not None:
                    on_step(step, row)
    model.eval()
    return TTSTrainResult(
        model, spec, norm, stats, step, time.perf_counter() - start, curve, bad_total
    )
