"""Timed runs: whole utterances of several lengths and, for streaming models, chunk by chunk.

Legend: B batch, S samples, T feature frames, D width.

Every figure is a measurement on the target: warm-up runs first (not timed), then ``repeats``
timed runs; the median and the 90th percentile are reported. Inputs are seeded noise: the
compute of the models here does not depend on the signal, except for decoders that stop at an
end token (an untrained one may run to its length cap, an upper bound).
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from speechnas._provenance import run_info
from speechnas.arch import ArchSpec
from speechnas.data.audio import SAMPLE_RATE
from speechnas.hardware._base import Target
from speechnas.hardware.energy import EnergyModel
from speechnas.models import SpeechModel, build_model
from speechnas.recognizer import ChunkStream, NotMeasurable, Recognizer
from speechnas.timing import noise, threads, time_transcription, timing_of

__all__ = [
    "ChunkProfile",
    "EnergyProfile",
    "Profile",
    "UtteranceProfile",
    "profile_chunks",
    "profile_chunks_here",
    "profile_model",
    "untrained_model",
]

#: Output tokens of the untrained models that are timed (a character vocabulary).
UNTRAINED_VOCAB = 30

log = logging.getLogger(__name__)


def untrained_model(spec: ArchSpec, vocab_size: int = UNTRAINED_VOCAB) -> SpeechModel:
    """``spec`` built with seed 0 and no SpecAugment, in eval mode, for measuring.

    Latency does not depend on the weights (see the module docstring), so one fixed set
    serves every measurement; the global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_model(spec, vocab_size=vocab_size, specaugment=False).eval()


@dataclass(frozen=True)
class UtteranceProfile:
    """Latency of transcribing one whole utterance of ``audio_s`` seconds (batch 1)."""

    audio_s: float
    median_ms: float
    p90_ms: float
    rtf: float
    repeats: int


@dataclass(frozen=True)
class ChunkProfile:
    """Chunk-by-chunk latency of a streaming model.

    ``chunk_ms`` of audio arrive per step; ``algorithmic_ms`` is what the model must wait for
    (its chunk and look-ahead); ``compute_*_ms`` is the time to process one chunk (front-end,
    encoder step, head); ``latency_ms`` = algorithmic + median compute, the delay from the
    last sample of a chunk's speech to its tokens; ``rtf`` = median compute / chunk_ms.
    """

    chunk_ms: float
    algorithmic_ms: float
    compute_median_ms: float
    compute_p90_ms: float
    latency_ms: float
    rtf: float
    chunks: int


@dataclass(frozen=True)
class EnergyProfile:
    """Energy of one ``audio_s``-second transcription: ``joules`` as the target's counter
    measured them (``source``: ``rapl`` or ``nvml``), or ``None`` with ``source`` saying why
    none was read; ``estimate_j`` always, from the model's MACs and memory traffic
    (:class:`~speechnas.hardware.energy.EnergyModel`), so the two can be compared."""

    audio_s: float
    joules: float | None
    source: str
    estimate_j: float


@dataclass(frozen=True)
class Profile:
    """One model measured on one target."""

    arch_id: str
    summary: str
    params: int
    target: dict[str, Any]
    warmup: int
    utterances: list[UtteranceProfile]
    streaming: ChunkProfile | None
    run_info: dict[str, Any] = field(default_factory=dict)
    energy: EnergyProfile | None = None

    def latency_ms(self, audio_s: float) -> float:
        """Median milliseconds for ``audio_s`` seconds of audio (one of those measured)."""
        for u in self.utterances:
            if abs(u.audio_s - audio_s) < 1e-9:
                return u.median_ms
        raise KeyError(f"{audio_s} s was not measured; measured: {self.measured_lengths}")

    @property
    def measured_lengths(self) -> list[float]:
        return [u.audio_s for u in self.utterances]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def profile_model(
    model: SpeechModel,
    spec: ArchSpec,
    target: Target,
    *,
    lengths_s: Sequence[float] = (1.0, 5.0, 20.0),
    warmup: int = 2,
    repeats: int = 10,
    stream_s: float = 10.0,
    workdir: Path | None = None,
) -> Profile:
    """Measure ``model`` (built from ``spec``) on ``target``.

    Whole utterances of each of ``lengths_s`` seconds; and, for a streaming spec on a target
    that supports it, ``stream_s`` seconds fed chunk by chunk (every chunk timed, the first
    ``warmup`` not). A model the target cannot stream (:class:`NotMeasurable` from
    ``open_stream``) is measured on whole utterances only, with a warning.
    """
    with threads(target.threads), tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        recognizer = target.prepare(model, workdir or Path(tmp))
        utterances = []
        for seconds in lengths_s:
            t = time_transcription(recognizer, seconds, warmup=warmup, repeats=repeats)
            utterances.append(
                UtteranceProfile(
                    audio_s=seconds,
                    median_ms=1000 * t.median_s,
                    p90_ms=1000 * t.p90_s,
                    rtf=t.median_s / seconds,
                    repeats=repeats,
                )
            )
        streaming = None
        if spec.streaming is not None and target.supports_streaming:
            try:
                stream = target.open_stream(model, workdir or Path(tmp))
            except NotMeasurable as e:
                log.warning("not measured chunk by chunk: %s", e)
            else:
                streaming = profile_chunks(model, spec, stream, seconds=stream_s, warmup=warmup)
        seconds = 5.0 if 5.0 in lengths_s else lengths_s[-1]
        energy = _energy(model, target, recognizer, seconds, repeats)
    return Profile(
        arch_id=spec.arch_id,
        summary=spec.summary(),
        params=model.num_params(),
        target=target.describe(),
        warmup=warmup,
        utterances=utterances,
        streaming=streaming,
        run_info=run_info(),
        energy=energy,
    )


def _energy(
    model: SpeechModel, target: Target, recognizer: Recognizer, seconds: float, repeats: int
) -> EnergyProfile:
    """The target's energy counter over ``repeats`` transcriptions, beside the estimate."""
    # The traffic of hardware.memory's analytic estimate (that module imports this one).
    traffic = 4 * model.num_params() + 2 * model.activation_bytes(seconds)
    estimate = EnergyModel().estimate_j(model.macs(1.0) * seconds, traffic)
    wave = noise(seconds)
    call = functools.partial(recognizer.transcribe_ids, wave, torch.tensor([wave.shape[1]]))
    try:
        joules, source = target.energy_j(call, repeats=repeats)
    except NotMeasurable as e:
        return EnergyProfile(seconds, None, f"not measured: {e}", estimate)
    return EnergyProfile(seconds, joules, source, estimate)


def profile_chunks_here(
    model: SpeechModel,
    spec: ArchSpec,
    *,
    num_threads: int = 1,
    seconds: float = 5.0,
    warmup: int = 2,
) -> ChunkProfile:
    """A streaming model fed chunk by chunk in PyTorch on this machine's CPU with
    ``num_threads`` threads (as :func:`profile_model` does on the ``cpu-torch`` target).

    Raises:
        ValueError: ``spec`` is not streaming, or ``seconds`` is shorter than one chunk.
    """
    from speechnas.hardware.targets import TorchCPUTarget

    if spec.streaming is None:
        raise ValueError(f"{spec.summary()} is not streaming: it has no chunks")
    with threads(num_threads), tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        stream = TorchCPUTarget(num_threads).open_stream(model, Path(tmp))
        return profile_chunks(model, spec, stream, seconds=seconds, warmup=warmup)


def profile_chunks(
    model: SpeechModel, spec: ArchSpec, stream: ChunkStream, *, seconds: float, warmup: int
) -> ChunkProfile:
    """Feed ``seconds`` of noise one encoder chunk at a time and time every chunk.

    Per chunk: the front-end on the chunk's samples plus the window overlap it needs, then
    ``stream.push`` (the target's encoder step and the head's greedy decoding of the frames
    that came out). A transducer's decoding restarts per chunk here (its per-frame cost is
    the same as when it continues).
    """
    model.eval()
    encoder, frontend = model.encoder, model.frontend
    feed = encoder.input_chunk  # feature frames per chunk
    hop, win = frontend.hop_length, frontend.win_length
    chunk_samples = feed * hop
    wave = noise(seconds + win / SAMPLE_RATE)
    times: list[float] = []
    start_sample = 0
    while start_sample + chunk_samples + win - hop <= wave.shape[1]:
        piece = wave[:, start_sample : start_sample + chunk_samples + win - hop]
        start = time.perf_counter()
        feats, _ = frontend(piece, torch.tensor([piece.shape[1]]))
        stream.push(feats)
        times.append(time.perf_counter() - start)
        start_sample += chunk_samples
    timed = times[warmup:] or times
    if not timed:
        raise ValueError(f"{seconds} s is shorter than one chunk ({chunk_samples} samples)")
    t = timing_of(timed)
    median, p90 = t.median_s, t.p90_s
    chunk_ms = 1000.0 * chunk_samples / SAMPLE_RATE
    algorithmic = spec.algorithmic_latency_ms or 0.0
    return ChunkProfile(
        chunk_ms=chunk_ms,
        algorithmic_ms=algorithmic,
        compute_median_ms=1000 * median,
        compute_p90_ms=1000 * p90,
        latency_ms=algorithmic + 1000 * median,
        rtf=1000 * median / chunk_ms,
        chunks=len(timed),
    )
