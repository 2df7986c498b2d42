"""Measured CPU latency of a model: the time to transcribe a fixed length of audio.

Latency is measured, not predicted: batch 1, greedy decoding, after warm-up runs, the median
of ``repeats`` timed runs. It does not depend on the weights, so an untrained model of an
architecture measures the same as a trained one (decoders that stop at an end token are the
exception: an untrained one may run to its length cap, so its latency is an upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from speechnas.hardware.measure import threads as thread_count
from speechnas.hardware.measure import time_transcription
from speechnas.models import SpeechModel

__all__ = ["Latency", "measure_latency"]


@dataclass(frozen=True)
class Latency:
    """Seconds to transcribe ``audio_seconds`` of audio with ``threads`` CPU threads."""

    median_s: float
    p90_s: float
    audio_seconds: float
    repeats: int
    threads: int

    @property
    def median_ms(self) -> float:
        return 1000.0 * self.median_s

    @property
    def rtf(self) -> float:
        """Real-time factor: compute seconds per audio second."""
        return self.median_s / self.audio_seconds


@torch.no_grad()
def measure_latency(
    model: SpeechModel,
    *,
    audio_seconds: float = 5.0,
    repeats: int = 10,
    warmup: int = 2,
    threads: int | None = None,
) -> Latency:
    """Median wall time of ``model.transcribe_ids`` on ``audio_seconds`` of seeded noise.

    Args:
        threads: torch intra-op threads while measuring (restored afterwards); ``None``
            keeps the current setting.
    """
    if repeats < 1 or audio_seconds <= 0:
        raise ValueError(
            f"need repeats >= 1 and audio_seconds > 0, got {repeats}, {audio_seconds}"
        )
    was_training = model.training
    model.eval()
    try:
        with thread_count(threads) as used:
            t = time_transcription(model, audio_seconds, warmup=warmup, repeats=repeats)
    finally:
        model.train(was_training)
    return Latency(
        median_s=t.median_s,
        p90_s=t.p90_s,
        audio_seconds=audio_seconds,
        repeats=repeats,
        threads=used,
    )
