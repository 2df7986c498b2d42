"""Cheap measurements of an architecture, taken on the untrained model before any training."""

from __future__ import annotations

from collections.abc import Callable

import torch

from speechnas.arch import ArchSpec
from speechnas.hardware.energy import EnergyModel, energy_counter, measure_energy_j
from speechnas.hardware.measure import profile_chunks_here, untrained_model
from speechnas.hardware.memo import LatencyMemo
from speechnas.hardware.memory import analytic_memory_bytes
from speechnas.timing import Latency, measure_latency, noise
from speechnas.timing import threads as timing_threads

__all__ = ["cheap_metrics"]


def cheap_metrics(
    spec: ArchSpec,
    *,
    vocab_size: int,
    audio_seconds: float = 5.0,
    repeats: int = 10,
    blocks: int = 3,
    threads: int | None = None,
    memo: LatencyMemo | None = None,
    chunks: bool = False,
    energy: bool = False,
) -> dict[str, float]:
    """``params``, ``macs`` (per audio second), ``memory_mb``, ``latency_ms`` and ``rtf``;
    what the model must wait for: ``algorithmic_latency_ms`` (chunk and look-ahead of a
    streaming model, the whole ``audio_seconds`` of a full-context one) and ``lookahead_ms``
    (its look-ahead; the whole audio for a full-context model); with ``chunks``,
    ``chunk_latency_ms``: the median compute per chunk of a streaming model fed chunk by
    chunk (front-end, encoder step, greedy decoding; ``repeats`` seconds of audio, 2 chunks
    of warm-up), and a full-context model's ``latency_ms`` (its one chunk is the utterance);
    with ``energy``, ``energy_j`` per ``audio_seconds`` utterance: measured from the CPU's
    energy counter where one is readable (``energy_measured`` 1), otherwise estimated from
    its MACs and memory traffic (``energy_measured`` 0; :mod:`speechnas.hardware.energy`).

    Latency is measured on this machine's CPU (see :func:`measure_latency`); the weights do
    not matter to it, so the model is built with a fixed seed and not trained. With a
    ``memo``, an earlier measurement of the same architecture and settings on this machine
    and software is read back instead (:mod:`speechnas.hardware.memo`).
    """
    model = untrained_model(spec, vocab_size)
    params = model.num_params()
    n_threads = threads or torch.get_num_threads()

    def measure() -> Latency:
        return measure_latency(
            model, audio_seconds=audio_seconds, repeats=repeats, blocks=blocks, threads=threads
        )

    def measure_chunks() -> Latency:
        chunked = profile_chunks_here(
            model, spec, num_threads=n_threads, seconds=float(max(repeats, 2))
        )
        return Latency(
            median_s=chunked.compute_median_ms / 1000.0,
            p90_s=chunked.compute_p90_ms / 1000.0,
            audio_seconds=chunked.chunk_ms / 1000.0,
            repeats=chunked.chunks,
            threads=n_threads,
        )

    def memoised(what: str, how: Callable[[], Latency]) -> Latency:
        if memo is None:
            return how()
        key = memo.key(
            what,
            vocab_size=vocab_size,
            audio_seconds=audio_seconds,
            repeats=repeats,
            threads=n_threads,
            blocks=blocks,
        )
        return memo.measured(key, how)

    latency = memoised(spec.arch_id, measure)
    memory = sum(analytic_memory_bytes(model, audio_seconds))
    whole = 1000.0 * audio_seconds
    algorithmic = spec.algorithmic_latency_ms
    streaming = spec.streaming
    out = {
        "params": float(params),
        "macs": float(model.macs(1.0)),
        "memory_mb": memory / 1e6,
        "latency_ms": latency.median_ms,
        "rtf": latency.rtf,
        "algorithmic_latency_ms": whole if algorithmic is None else float(algorithmic),
        "lookahead_ms": whole if streaming is None else float(streaming.lookahead * spec.frame_ms),
    }
    if energy:
        weights, activations = analytic_memory_bytes(model, audio_seconds)
        estimate = EnergyModel().estimate_j(
            model.macs(1.0) * audio_seconds, weights + 2 * activations
        )
        measured = None
        if energy_counter() is not None:
            wave = noise(audio_seconds)
            lens = torch.tensor([wave.shape[1]])
            with timing_threads(n_threads), torch.no_grad():
                measured = measure_energy_j(
                    lambda: model.transcribe_ids(wave, lens), repeats=max(repeats, 3)
                )
        out["energy_j"] = estimate if measured is None else measured
        out["energy_measured"] = 0.0 if measured is None else 1.0
    if chunks:
        out["chunk_latency_ms"] = (
            latency.median_ms
            if streaming is None
            else memoised(f"{spec.arch_id}:chunks", measure_chunks).median_ms
        )
    return out
