"""``speechnas profile --export-memory``: measure sampled architectures' inference memory."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechnas.errors import UserError

__all__ = ["export_memory"]


def export_memory(args: argparse.Namespace) -> int:
    """Measure a seeded sample of the default space (streaming or not) into a memory table.

    Each model runs in a fresh process (:func:`~speechnas.hardware.memory.measure_peak_memory`)
    with ``--threads`` threads on ``--table-seconds`` of audio. An existing file of the same
    audio length and threads is extended: specs it holds are not measured again, and the file
    is saved every ten models, so an interrupted run loses little.
    """
    from rich.progress import Progress

    from speechnas.hardware.memory import (
        MIN_RECORDS,
        MemoryModel,
        MemoryRecord,
        peak_memory_unavailable,
        profile_memory,
    )
    from speechnas.hardware.tables import sample_specs
    from speechnas.space import SpeechSpace

    if args.export:
        raise UserError("--export and --export-memory write different files; give one")
    if any(name != "cpu-torch" for name in args.target or []):
        raise UserError("--export-memory measures PyTorch on this CPU; give no other --target")
    reason = peak_memory_unavailable()
    if reason is not None:
        raise UserError(f"--export-memory cannot measure here: {reason}")
    out = Path(args.export_memory)
    memory = MemoryModel(args.table_seconds, args.threads)
    if out.exists():
        memory = MemoryModel.load(out)
        if abs(memory.audio_s - args.table_seconds) > 1e-9 or memory.threads != args.threads:
            raise UserError(
                f"{out} holds memory measured on {memory.audio_s:g} s of audio with "
                f"{memory.threads} thread(s), not {args.table_seconds:g} s with {args.threads}; "
                "write to another file"
            )
    specs = sample_specs(SpeechSpace(streaming="both"), args.specs, args.seed, stratified=True)
    with Progress() as progress:
        task = progress.add_task("measuring memory", total=len(specs))
        new = 0

        def saved(i: int, record: MemoryRecord) -> None:
            nonlocal new
            progress.update(task, completed=i + 1)
            new += 1
            if new % 10 == 0:
                memory.save(out)

        profile_memory(specs, memory, on_record=saved)
        progress.update(task, completed=len(specs))
    memory.save(out)
    print(f"memory table: {out} ({len(memory)} models, {new} measured now)")
    if len(memory) >= MIN_RECORDS:
        a, b, c = memory.coefficients
        print(f"fit: memory = {a:.2f} MB + {b:.3f} x weights + {c:.3f} x analytic activations")
    return 0
