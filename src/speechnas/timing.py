"""Timed calls, and the measured latency of a model transcribing a fixed length of audio.

Every figure is a measurement: warm-up calls first (not timed), then ``repeats`` timed calls;
the median and the 90th percentile (nearest rank) are reported. Inputs are seeded noise: the
compute of the models here does not depend on the signal, so an untrained model of an
architecture measures the same as a trained one (decoders that stop at an end token are the
exception: an untrained one may run to its length cap, so its latency is an upper bound).

Legend: S samples.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from speechnas.data.audio import SAMPLE_RATE
from speechnas.models import SpeechModel
from speechnas.recognizer import Recognizer

__all__ = [
    "Latency",
    "Timing",
    "measure_latency",
    "noise",
    "threads",
    "time_calls",
    "time_transcription",
    "timing_of",
]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and 90th percentile of ``repeats`` timed calls."""

    median_s: float
    p90_s: float
    repeats: int


def time_calls(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 10) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return timing_of(times)


def timing_of(times: Sequence[float]) -> Timing:
    """Median and 90th percentile (nearest rank) of measured seconds."""
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return Timing(median_s=statistics.median(ordered), p90_s=p90, repeats=len(ordered))


@torch.no_grad()
def time_transcription(
    recognizer: Recognizer, seconds: float, *, warmup: int = 2, repeats: int = 10
) -> Timing:
    """Time ``recognizer`` transcribing ``seconds`` of seeded noise at batch 1."""
    wave = noise(seconds)
    lens = torch.tensor([wave.shape[1]])
    return time_calls(
        functools.partial(recognizer.transcribe_ids, wave, lens), warmup=warmup, repeats=repeats
    )


@contextmanager
def threads(count: int | None) -> Iterator[int]:
    """Run the block with ``count`` torch intra-op threads (``None``: unchanged)."""
    before = torch.get_num_threads()
    try:
        if count:
            torch.set_num_threads(count)
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


#: :func:`threads` under another name, for :func:`measure_latency`, whose argument shadows it.
_threads = threads


def noise(seconds: float, seed: int = 0) -> torch.Tensor:
    """(1, S) seeded noise at 16 kHz."""
    samples = int(round(seconds * SAMPLE_RATE))
    return 0.1 * torch.randn(1, samples, generator=torch.Generator().manual_seed(seed))


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
        with _threads(threads) as used:
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
