"""Latency tables for tests: part timings priced from MACs and frames, never timed, so what a
test checks of pruning, prediction or DARTS does not depend on how busy the machine is."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from speechnas.arch import ArchSpec
from speechnas.hardware.chunk_fit import chunk_macs
from speechnas.hardware.lut import LatencyTable, model_parts
from speechnas.hardware.measure import untrained_model
from speechnas.models import SpeechModel

__all__ = ["chunk_ms", "synthetic_table"]


def chunk_ms(spec: ArchSpec, model: SpeechModel | None = None) -> float:
    """The synthetic compute per chunk of streaming ``spec`` (built as ``model``): ``0.01 *
    MACs per chunk ** 0.5 * layers ** 0.5`` ms (a law the table's chunk fit can hold
    exactly)."""
    macs = chunk_macs(model or untrained_model(spec))
    return float(0.01 * macs**0.5 * len(spec.kept_layers) ** 0.5)


def synthetic_table(
    specs: Iterable[ArchSpec],
    target: dict[str, Any],
    *,
    audio_s: float = 1.0,
    path: Path | None = None,
) -> LatencyTable:
    """A table of ``specs`` for ``target`` (a target's ``describe()``) in which each part
    takes ``0.5 + MACs / 1e5 + 0.02 * frames`` ms, like a real table in shape and order, and
    a streaming spec's chunk :func:`chunk_ms`; saved to ``path`` when given."""
    table = LatencyTable(target, audio_s=audio_s)
    for spec in specs:
        model = untrained_model(spec)
        parts = model_parts(model, spec, audio_s)
        ms = [0.5 + p.macs / 1e5 + 0.02 * p.frames for p in parts]
        table.add(spec, parts, ms, sum(ms))
        if spec.streaming is not None:
            table.add_chunks(spec, model, chunk_ms(spec, model))
    if path is not None:
        table.save(path)
    return table
