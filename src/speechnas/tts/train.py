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
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from speechnas._provenance import run_info
from speechnas.arch.tts import TTSSpec
from speechnas.errors import UserError
from speechnas.models.tts import AcousticModel, build_tts_model
from speechnas.text import Tokenizer, tokenizer_from_state
from speechnas.timing import threads
from speechnas.train.checkpoint import read_saved
from speechnas.train.loop import TrainingDiverged
from speechnas.train.schedule import warmup_cosine, warmup_length
from speechnas.tts.corpus import TTSUtterance, normalised_variance

__all__ = [
    "TTS_CHECKPOINT_FORMAT",
    "MelNorm",
    "TTSBatch",
    "TTSTrainResult",
    "TTSTrainSettings",
    "batches",
    "collate",
    "load_tts_checkpoint",
    "train_tts",
]

#: The version of a TTS checkpoint's layout.
TTS_CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TTSTrainSettings:
    """How a TTS model is trained (module docstring).

    Attributes:
        steps: optimiser steps.
        batch_frames: padded mel frames per batch at most (an utterance longer than that
            alone).
        lr, warmup_steps, weight_decay, grad_clip: AdamW's peak rate, its linear warm-up
            (at most a fifth of the run), weight decay and the global gradient-norm clip.
        seed: seeds initialisation and batch order.
        threads: torch intra-op threads (``None``: torch's default).
        max_nonfinite_steps: non-finite losses in a row before the run stops with an error.

    Raises:
        ValueError: naming the first field out of range and its value.
    """

    steps: int = 3000
    batch_frames: int = 6000
    lr: float = 1e-3
    warmup_steps: int = 300
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    seed: int = 0
    threads: int | None = None
    max_nonfinite_steps: int = 20

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1,
            "batch_frames": self.batch_frames >= 1,
            "lr": self.lr > 0,
            "warmup_steps": self.warmup_steps >= 0,
            "weight_decay": self.weight_decay >= 0,
            "grad_clip": self.grad_clip > 0,
            "seed": self.seed >= 0,
            "threads": self.threads is None or self.threads >= 1,
            "max_nonfinite_steps": self.max_nonfinite_steps >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"TTSTrainSettings.{name}={getattr(self, name)!r} is out of range"
                )


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
    """A batch of ``utterances``: padded with zeros (token 0 is the padding), mels
    normalised by ``norm``, pitch and energy by ``stats``
    (:func:`~speechnas.tts.corpus.normalised_variance`)."""
    n = max(len(u.tokens) for u in utterances)
    t = max(u.mel.shape[0] for u in utterances)
    b, m = len(utterances), utterances[0].mel.shape[1]
    tokens = torch.zeros(b, n, dtype=torch.long)
    durations = torch.zeros(b, n, dtype=torch.long)
    pitch, energy = torch.zeros(b, n), torch.zeros(b, n)
    mel = torch.zeros(b, t, m)
    for i, u in enumerate(utterances):
        k = len(u.tokens)
        tokens[i, :k] = torch.tensor(u.tokens)
        durations[i, :k] = torch.tensor(u.durations)
        pitch[i, :k], energy[i, :k] = normalised_variance(u, stats)
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

    settings: TTSTrainSettings = field(default_factory=TTSTrainSettings)

    def state(self, tokenizer_state: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the model (weights, spec, tokenizer, normalisation, the training
        settings and where it ran); :func:`load_tts_checkpoint` reads it back."""
        return {
            "format": TTS_CHECKPOINT_FORMAT,
            "tts_spec": self.spec.to_dict(),
            "model": self.model.state_dict(),
            "tokenizer": tokenizer_state,
            "mel_norm": self.norm.to_state(),
            "stats": {k: list(v) for k, v in self.stats.items()},
            "steps": self.steps,
            "settings": asdict(self.settings),
            "run_info": run_info(),
        }


def load_tts_checkpoint(
    path: str | os.PathLike[str],
) -> tuple[AcousticModel, MelNorm, Tokenizer, dict[str, Any]]:
    """The model (in eval mode), its mel normalisation and tokenizer, and the whole state of
    a checkpoint :meth:`TTSTrainResult.state` wrote.

    Raises:
        UserError: not a TTS checkpoint, or a damaged one (naming the file).
    """
    state = read_saved(path, "TTS checkpoint")
    if not isinstance(state, dict) or state.get("format") != TTS_CHECKPOINT_FORMAT:
        raise UserError(f"{path}: not a TTS checkpoint of format {TTS_CHECKPOINT_FORMAT}")
    try:
        spec = TTSSpec.from_dict(state["tts_spec"])
        tokenizer = tokenizer_from_state(state["tokenizer"])
        model = build_tts_model(spec, tokenizer.vocab_size)
        model.load_state_dict(state["model"])
        norm = MelNorm(state["mel_norm"]["mean"], state["mel_norm"]["std"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise UserError(f"{path}: a damaged TTS checkpoint: {type(e).__name__}: {e}") from e
    return model.eval(), norm, tokenizer, state


def train_tts(
    spec: TTSSpec,
    train: Sequence[TTSUtterance],
    *,
    vocab_size: int,
    stats: dict[str, tuple[float, float]],
    settings: TTSTrainSettings | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    log_every: int = 50,
    initial: Mapping[str, Tensor] | None = None,
    norm: MelNorm | None = None,
) -> TTSTrainResult:
    """Train ``spec`` on ``train`` for ``settings.steps`` optimiser steps (module docstring).

    Args:
        initial: weights to start from (a state dict of the same spec: the previous rung's
            model, continued with a schedule of its own); ``None``: a fresh initialisation.
        norm: the mel normalisation to learn in (``None``: ``train``'s own); a run that
            continues another keeps its normalisation.

    Raises:
        UserError: no training utterance.
        TrainingDiverged: the loss stayed non-finite.
    """
    settings = settings or TTSTrainSettings()
    if not train:
        raise UserError("no training utterance")
    if log_every < 1:
        raise ValueError(f"log_every={log_every!r}; expected >= 1")
    with torch.random.fork_rng(devices=[]), threads(settings.threads):
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        model = build_tts_model(spec, vocab_size).train()
        if initial is not None:
            model.load_state_dict(initial)
        norm = norm or MelNorm.of(train)
        opt = torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
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
                        raise TrainingDiverged(
                            f"TTS training diverged: {bad} non-finite losses in a row"
                        )
                    step += 1
                    continue
                bad = 0
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                opt.step()
                step += 1
                window.append({"loss": float(loss.detach()), **parts})
                if window and (step % log_every == 0 or step == settings.steps):
                    row = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                    row["step"] = float(step)
                    curve.append(row)
                    window = []
                    if on_step is not None:
                        on_step(step, row)
        model.eval()
        return TTSTrainResult(
            model, spec, norm, stats, step, time.perf_counter() - start, curve, bad_total, settings
        )
