"""Building a target's latency table: profile a seeded sample of a space, part by part."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.hardware._base import Target
from speechnas.hardware.lut import LatencyTable, measure_parts
from speechnas.hardware.measure import threads, untrained_model
from speechnas.space import SpeechSpace

__all__ = ["profile_table", "sample_specs"]


def sample_specs(space: SpeechSpace, count: int, seed: int) -> list[ArchSpec]:
    """``count`` distinct specs drawn uniformly from ``space`` with ``seed``."""
    rng = np.random.default_rng(seed)
    seen: dict[str, ArchSpec] = {}
    tries = 0
    while len(seen) < count and tries < 50 * count:
        spec = space.sample(rng)
        seen.setdefault(spec.arch_id, spec)
        tries += 1
    return list(seen.values())


def profile_table(
    specs: Sequence[ArchSpec],
    target: Target,
    *,
    audio_s: float = 5.0,
    warmup: int = 2,
    repeats: int = 10,
    table: LatencyTable | None = None,
    on_model: Callable[[int, ArchSpec, float], None] | None = None,
) -> LatencyTable:
    """Time every part of every spec on ``target`` into ``table`` (a new one by default).

    Parts are timed with hooks inside PyTorch runs, so only PyTorch targets have tables.

    Args:
        on_model: called after each model with its index, spec and whole-run milliseconds.
    """
    if target.name != "cpu-torch":
        raise UserError(
            f"latency tables are measured part by part inside PyTorch runs; target "
            f"{target.name!r} is not supported yet (use cpu-torch)"
        )
    out = table if table is not None else LatencyTable(target.describe(), audio_s)
    if abs(out.audio_s - audio_s) > 1e-9:
        raise UserError(f"the table was measured on {out.audio_s} s of audio, not {audio_s} s")
    with threads(target.threads):
        for i, spec in enumerate(specs):
            model = untrained_model(spec)
            parts, ms, total = measure_parts(
                model, spec, audio_s=audio_s, warmup=warmup, repeats=repeats
            )
            out.add(spec, parts, ms, total)
            if on_model is not None:
                on_model(i, spec, total)
    return out
