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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from speechnas.data.audio import SAMPLE_RATE
from speechnas.models import SpeechModel
from speechnas.recognizer import Recognizer

__all__ = [
    "Latency",
    "Timing",
    "compare_latency",
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


def time_calls(
    fn: Callable[[], object], *, warmup: int = 2, repeats: int = 10, blocks: int = 1
) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; with ``blocks``
    > 1, that many times over, and the median is the lowest of the blocks' medians (as
    :func:`measure_latency`'s; the 90th percentile and ``repeats`` are over all timed
    calls)."""
    if blocks < 1:
        raise ValueError(f"need blocks >= 1, got {blocks}")
    timed = [_timed(fn, warmup=warmup, repeats=repeats) for _ in range(blocks)]
    pooled = timing_of([t for block in timed for t in block])
    if blocks == 1:
        return pooled
    lowest = min(statistics.median(block) for block in timed)
    return Timing(median_s=lowest, p90_s=pooled.p90_s, repeats=pooled.repeats)


def _timed(fn: Callable[[], object], *, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` timed calls of ``fn``, after ``warmup`` untimed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


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
    """Seconds to transcribe ``audio_seconds`` of audio with ``threads`` CPU threads.

    ``median_s`` is the median of all ``repeats`` timed calls, or with ``blocks`` > 1 the
    lowest of the blocks' medians (:func:`measure_latency`); ``p90_s`` is over all calls.
    """

    median_s: float
    p90_s: float
    audio_seconds: float
    repeats: int
    threads: int
    blocks: int = 1

    @property
    def median_ms(self) -> float:
        return 1000.0 * self.median_s

    @property
    def rtf(self) -> float:
        """Real-time factor: compute seconds per audio second."""
        return self.median_s / self.audio_seconds


def measure_latency(
    model: SpeechModel,
    *,
    audio_seconds: float = 5.0,
    repeats: int = 10,
    warmup: int = 2,
    blocks: int = 3,
    threads: int | None = None,
) -> Latency:
    """Wall time of ``model.transcribe_ids`` on ``audio_seconds`` of seeded noise: the
    lowest of ``blocks`` block medians, each block ``warmup`` untimed calls and ``repeats``
    timed ones (the 90th percentile over all timed calls).

    The lowest block median of enough calls rather than one median: load from a shared
    host's other tenants comes in bursts that lift some blocks and miss others. Measured
    (BENCHMARKS.md "Latency noise floor", 1 thread, small models, one pass minutes after
    the other): two measurements of one model agree within +-10% for 68% of models with 3
    blocks of 10 calls (5 warm-up calls before the first), 38-48% with one median of 5 or
    10 calls.

    Args:
        repeats: timed calls per block.
        warmup: untimed calls before each block.
        blocks: blocks of calls (1: the median of ``repeats`` calls).
        threads: torch intra-op threads while measuring (restored afterwards); ``None``
            keeps the current setting.
    """
    if blocks < 1:
        raise ValueError(f"need blocks >= 1, got {blocks}")
    return compare_latency(
        {"model": model},
        rounds=blocks,
        audio_seconds=audio_seconds,
        repeats=repeats,
        warmup=warmup,
        threads=threads,
        lowest_round=True,
    )["model"]


@torch.no_grad()
def compare_latency(
    models: Mapping[str, SpeechModel],
    *,
    rounds: int = 3,
    audio_seconds: float = 5.0,
    repeats: int = 10,
    warmup: int = 2,
    threads: int | None = None,
    lowest_round: bool = False,
) -> dict[str, Latency]:
    """The latencies of several models, measured in alternating rounds.

    Each round times every model (``warmup`` untimed calls, then ``repeats`` timed), in an
    order rotated by one model per round, so a change in the machine's load while they are
    measured (a shared host's other tenants) falls on every model alike instead of on
    whichever was measured at the time. A model's median and 90th percentile are over all
    its ``rounds * repeats`` timed calls.

    Args:
        threads: torch intra-op threads while measuring (restored afterwards); ``None``
            keeps the current setting.
        lowest_round: a model's median is the lowest of its rounds' medians instead (see
            :func:`measure_latency`).
    """
    if rounds < 1 or repeats < 1 or audio_seconds <= 0:
        raise ValueError(
            "need rounds >= 1, repeats >= 1 and audio_seconds > 0, got "
            f"{rounds}, {repeats}, {audio_seconds}"
        )
    names = list(models)
    wave = noise(audio_seconds)
    lens = torch.tensor([wave.shape[1]])
    times: dict[str, list[float]] = {name: [] for name in names}
    round_medians: dict[str, list[float]] = {name: [] for name in names}
    modes = {name: model.training for name, model in models.items()}
    try:
        for model in models.values():
            model.eval()
        with _threads(threads) as used:
            for r in range(rounds):
                shift = r % len(names) if names else 0
                for name in names[shift:] + names[:shift]:
                    call = functools.partial(models[name].transcribe_ids, wave, lens)
                    timed = _timed(call, warmup=warmup, repeats=repeats)
                    times[name] += timed
                    round_medians[name].append(statistics.median(timed))
    finally:
        for name, model in models.items():
            model.train(modes[name])
    out = {}
    for name in names:
        t = timing_of(times[name])
        out[name] = Latency(
            median_s=min(round_medians[name]) if lowest_round else t.median_s,
            p90_s=t.p90_s,
            audio_seconds=audio_seconds,
            repeats=t.repeats,
            threads=used,
            blocks=rounds if lowest_round else 1,
        )
    return out
