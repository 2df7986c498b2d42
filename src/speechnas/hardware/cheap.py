"""Cheap measurements of an architecture, taken on the untrained model before any training."""

from __future__ import annotations

import torch

from speechnas.arch import ArchSpec
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.memo import LatencyMemo
from speechnas.hardware.memory import analytic_memory_bytes
from speechnas.timing import Latency, measure_latency

__all__ = ["cheap_metrics"]


def cheap_metrics(
    spec: ArchSpec,
    *,
    vocab_size: int,
    audio_seconds: float = 5.0,
    repeats: int = 5,
    threads: int | None = None,
    memo: LatencyMemo | None = None,
) -> dict[str, float]:
    """``params``, ``macs`` (per audio second), ``memory_mb``, ``latency_ms`` and ``rtf``.

    Latency is measured on this machine's CPU (see :func:`measure_latency`); the weights do
    not matter to it, so the model is built with a fixed seed and not trained. With a
    ``memo``, an earlier measurement of the same architecture and settings on this machine
    and software is read back instead (:mod:`speechnas.hardware.memo`).
    """
    model = untrained_model(spec, vocab_size)
    params = model.num_params()

    def measure() -> Latency:
        return measure_latency(
            model, audio_seconds=audio_seconds, repeats=repeats, threads=threads
        )

    if memo is None:
        latency = measure()
    else:
        key = memo.key(
            spec.arch_id,
            vocab_size=vocab_size,
            audio_seconds=audio_seconds,
            repeats=repeats,
            threads=threads or torch.get_num_threads(),
        )
        latency = memo.measured(key, measure)
    memory = sum(analytic_memory_bytes(model, audio_seconds))
    algorithmic = spec.algorithmic_latency_ms
    return {
        "params": float(params),
        "macs": float(model.macs(1.0)),
        "memory_mb": memory / 1e6,
        "latency_ms": latency.median_ms,
        "rtf": latency.rtf,
        "algorithmic_latency_ms": float(algorithmic) if algorithmic is not None else 0.0,
    }
