"""Latency tables for tests: part timings priced from MACs and frames, never timed, so what a
test checks of pruning, prediction or DARTS does not depend on how busy the machine is."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from speechnas.arch import ArchSpec
from speechnas.hardware.lut import LatencyTable, model_parts
from speechnas.hardware.measure import untrained_model

__all__ = ["synthetic_table"]


def synthetic_table(
    specs: Iterable[ArchSpec],
    target: dict[str, Any],
    *,
    audio_s: float = 1.0,
    path: Path | None = None,
) -> LatencyTable:
    """A table of ``specs`` for ``target`` (a target's ``describe()``) in which each part
    takes ``0.5 + MACs / 1e5 + 0.02 * frames`` ms, like a real table in shape and order;
    saved to ``path`` when given."""
    table = LatencyTable(target, audio_s=audio_s)
    for spec in specs:
        parts = model_parts(untrained_model(spec), spec, audio_s)
        ms = [0.5 + p.macs / 1e5 + 0.02 * p.frames for p in parts]
        table.add(spec, parts, ms, sum(ms))
    if path is not None:
        table.save(path)
    return table
