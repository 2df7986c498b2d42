"""Building a target's latency table: profile a seeded sample of a space, part by part."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.hardware._base import Target
from speechnas.hardware.chunk_fit import chunk_seconds
from speechnas.hardware.lut import LatencyTable
from speechnas.hardware.measure import profile_chunks, untrained_model
from speechnas.models import SpeechModel
from speechnas.recognizer import NotMeasurable
from speechnas.space import SpeechSpace
from speechnas.timing import threads

__all__ = ["add_chunk_records", "profile_table", "sample_specs"]

log = logging.getLogger(__name__)


def sample_specs(
    space: SpeechSpace, count: int, seed: int, *, stratified: bool = False
) -> list[ArchSpec]:
    """``count`` distinct specs of ``space`` drawn with ``seed``.

    Uniformly over the distinct architectures by default, which mostly draws the family and
    depth with the most architectures (deep Conformers in the default space). With
    ``stratified``, each draw first picks an encoder family and a depth uniformly, then an
    architecture uniformly among those: what a latency table needs to cover every family a
    search may propose.
    """
    rng = np.random.default_rng(seed)
    strata = [space]
    if stratified:
        strata = [
            dataclasses.replace(space, encoders=(family,), min_layers=depth, max_layers=depth)
            for family in space.encoders
            for depth in range(space.min_layers, space.max_layers + 1)
        ]
        strata = [s for s in strata if _nonempty(s)]
    seen: dict[str, ArchSpec] = {}
    tries = 0
    while len(seen) < count and tries < 50 * count:
        spec = strata[int(rng.integers(len(strata)))].sample(rng)
        seen.setdefault(spec.arch_id, spec)
        tries += 1
    return list(seen.values())


def _nonempty(space: SpeechSpace) -> bool:
    try:
        return space.count() > 0
    except ValueError:
        return False


def profile_table(
    specs: Sequence[ArchSpec],
    target: Target,
    *,
    audio_s: float = 5.0,
    warmup: int = 2,
    repeats: int = 10,
    table: LatencyTable | None = None,
    on_model: Callable[[int, ArchSpec, float | None], None] | None = None,
) -> LatencyTable:
    """Time every part of every spec on ``target`` into ``table`` (a new one by default).

    Parts are timed by :meth:`~speechnas.hardware.Target.measure_parts`. A streaming spec is
    also fed chunk by chunk where the target streams, and its median compute per chunk
    recorded (:func:`add_chunk_records`). A spec the target cannot run
    (:class:`~speechnas.hardware.NotMeasurable`) is skipped with a warning.

    Args:
        on_model: called after each spec with its index, the spec and its whole-run
            milliseconds (``None``: skipped).

    Raises:
        UserError: ``table`` belongs to another target or audio length, or the target has
            no part timing.
    """
    out = table if table is not None else LatencyTable(target.describe(), audio_s)
    out.check_target(target.describe())
    if abs(out.audio_s - audio_s) > 1e-9:
        raise UserError(f"the table was measured on {out.audio_s} s of audio, not {audio_s} s")
    with threads(target.threads):
        for i, spec in enumerate(specs):
            model = untrained_model(spec)
            total: float | None = None
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    parts, ms, total = target.measure_parts(
                        model,
                        spec,
                        audio_s=audio_s,
                        warmup=warmup,
                        repeats=repeats,
                        workdir=Path(tmp),
                    )
                    out.add(spec, parts, ms, total)
                    if spec.streaming is not None and target.supports_streaming:
                        add_chunk_records(
                            out,
                            target,
                            model,
                            spec,
                            warmup=warmup,
                            repeats=repeats,
                            workdir=Path(tmp),
                        )
            except NotMeasurable as e:
                log.warning("skipped on %s: %s", target.name, e)
            if on_model is not None:
                on_model(i, spec, total)
    return out


def add_chunk_records(
    table: LatencyTable,
    target: Target,
    model: SpeechModel,
    spec: ArchSpec,
    *,
    warmup: int = 2,
    repeats: int = 10,
    workdir: Path,
) -> bool:
    """Feed streaming ``model`` (built from ``spec``) chunk by chunk on ``target`` and record
    its median compute per chunk in ``table``: ``warmup`` chunks untimed, then at least
    ``repeats`` timed (or ``table.audio_s`` of audio, if that holds more). Returns whether it
    was recorded (a model the target cannot stream is not, with a warning)."""
    chunk_s = chunk_seconds(model)
    seconds = max(table.audio_s, (warmup + repeats + 0.5) * chunk_s)
    try:
        with torch.no_grad():
            stream = target.open_stream(model, workdir)
            chunked = profile_chunks(model, spec, stream, seconds=seconds, warmup=warmup)
    except NotMeasurable as e:
        log.warning("not measured chunk by chunk on %s: %s", target.name, e)
        return False
    table.add_chunks(spec, model, chunked.compute_median_ms)
    return True
