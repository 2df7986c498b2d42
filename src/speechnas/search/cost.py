"""Cheap measurements of an architecture, taken on the untrained model before any training."""

from __future__ import annotations

from speechnas.arch import ArchSpec
from speechnas.evaluate.latency import measure_latency
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.memory import analytic_memory_bytes

__all__ = ["cheap_metrics"]


def cheap_metrics(
    spec: ArchSpec,
    *,
    vocab_size: int,
    audio_seconds: float = 5.0,
    repeats: int = 5,
    threads: int | None = None,
) -> dict[str, float]:
    """``params``, ``macs`` (per audio second), ``memory_mb``, ``latency_ms`` and ``rtf``.

    Latency is measured on this machine's CPU (see :func:`measure_latency`); the weights do
    not matter to it, so the model is built with a fixed seed and not trained.
    """
    model = untrained_model(spec, vocab_size)
    params = model.num_params()
    latency = measure_latency(model, audio_seconds=audio_seconds, repeats=repeats, threads=threads)
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
