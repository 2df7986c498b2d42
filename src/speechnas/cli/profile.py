"""``speechnas profile``: measure a model's latency on named targets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from speechnas.arch import DECODERS
from speechnas.cli._model_source import add_model_source, load_model_source
from speechnas.cli._profile_memory import export_memory
from speechnas.cli._types import positive_float, positive_int
from speechnas.errors import UserError

if TYPE_CHECKING:
    from speechnas.arch import ArchSpec
    from speechnas.hardware import Target
    from speechnas.hardware.lut import LatencyTable

__all__ = ["register"]


def _export_table(args: argparse.Namespace) -> int:
    """Profile a seeded sample of the space (the heads ``--decoders`` names, streaming or
    not) into a latency table.

    An existing table of the same target is extended: specs it holds are not measured again,
    and the table is saved every ten models, so an interrupted run loses little.
    """
    from rich.progress import Progress

    from speechnas.arch import ArchSpec
    from speechnas.hardware import make_target
    from speechnas.hardware.lut import LatencyTable
    from speechnas.hardware.tables import profile_table, sample_specs
    from speechnas.space import SpeechSpace

    names = args.target or ["cpu-torch"]
    if len(names) != 1:
        raise UserError("--export writes the table of one target; give one --target")
    target = make_target(names[0], args.threads)
    out = Path(args.export)
    table = LatencyTable(target.describe(), args.table_seconds)
    if out.exists():
        table = LatencyTable.load(out)
        table.check_target(target.describe(), source=out)
    measured = {ArchSpec.from_dict(m["spec"]).arch_id for m in table.models}
    chunked = {ArchSpec.from_dict(c["spec"]).arch_id for c in table.chunks}
    decoders = args.decoders or list(DECODERS)
    space = SpeechSpace(decoders=tuple(decoders), streaming="both")
    sample = sample_specs(space, args.specs, args.seed, stratified=True)
    specs = [s for s in sample if s.arch_id not in measured]
    # Streaming models of a table written before chunk records were kept: their chunks only.
    chunkless = [
        s
        for s in sample
        if s.arch_id in measured and s.streaming is not None and s.arch_id not in chunked
    ]
    if target.supports_streaming and chunkless:
        _add_chunks(table, target, chunkless, args)
        table.save(out)
    skipped: list[str] = []
    with Progress() as progress:
        task = progress.add_task(f"profiling on {target.name}", total=len(specs))

        def saved(i: int, spec: ArchSpec, ms: float | None) -> None:
            progress.advance(task)
            if ms is None:
                skipped.append(spec.summary())
            if (i + 1) % 10 == 0:
                table.save(out)

        profile_table(
            specs,
            target,
            audio_s=args.table_seconds,
            warmup=args.warmup,
            repeats=args.repeats,
            table=table,
            on_model=saved,
        )
    table.save(out)
    print(f"latency table: {out} ({len(table.models)} models, {len(table)} part signatures)")
    if skipped:
        print(f"{len(skipped)} architecture(s) cannot run on {target.name} and were skipped:")
        for summary in skipped:
            print(f"  {summary}")
    return 0


def _add_chunks(
    table: LatencyTable, target: Target, specs: list[ArchSpec], args: argparse.Namespace
) -> None:
    """Measure ``specs`` chunk by chunk into ``table`` (their parts are there already)."""
    import tempfile

    from rich.progress import track

    from speechnas.hardware.measure import untrained_model
    from speechnas.hardware.tables import add_chunk_records
    from speechnas.timing import threads

    with threads(target.threads):
        for spec in track(specs, description=f"chunk by chunk on {target.name}"):
            with tempfile.TemporaryDirectory() as tmp:
                add_chunk_records(
                    table,
                    target,
                    untrained_model(spec),
                    spec,
                    warmup=args.warmup,
                    repeats=args.repeats,
                    workdir=Path(tmp),
                )


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from speechnas.hardware import make_target, profile_model

    if args.export_memory:
        return export_memory(args)
    if args.export:
        return _export_table(args)
    if not (args.preset or args.spec or args.checkpoint):
        raise UserError("give a model (--preset, --spec or --checkpoint) or --export TABLE")
    targets = [make_target(name, args.threads) for name in args.target or ["cpu-torch"]]
    model, spec, _ = load_model_source(args)
    console = Console()
    console.print(f"{spec.summary()}  ({model.num_params():,} params, {spec.arch_id})")
    profiles = []
    for target in targets:
        with console.status(f"measuring on {target.name} ({target.threads} threads)"):
            profiles.append(
                profile_model(
                    model,
                    spec,
                    target,
                    lengths_s=args.seconds,
                    warmup=args.warmup,
                    repeats=args.repeats,
                )
            )
    table = Table(title=f"latency, batch 1, greedy ({args.repeats} runs after {args.warmup})")
    for col in ("target", "audio", "median", "p90", "RTF"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for p in profiles:
        for u in p.utterances:
            table.add_row(
                p.target["target"],
                f"{u.audio_s:g} s",
                f"{u.median_ms:.1f} ms",
                f"{u.p90_ms:.1f} ms",
                f"{u.rtf:.4f}",
            )
    console.print(table)
    for p in profiles:
        c = p.streaming
        if c is not None:
            console.print(
                f"{p.target['target']} streaming: {c.chunk_ms:.0f} ms chunks, compute "
                f"{c.compute_median_ms:.1f} ms median / {c.compute_p90_ms:.1f} ms p90 per "
                f"chunk (RTF {c.rtf:.3f}); algorithmic {c.algorithmic_ms:.0f} ms, so "
                f"{c.latency_ms:.0f} ms from speech to tokens"
            )
        elif spec.streaming is not None:
            console.print(f"{p.target['target']}: chunk-by-chunk runs are not measured here")
    for p in profiles:
        e = p.energy
        if e is not None:
            measured = (
                f"{1e3 * e.joules:.2f} mJ measured ({e.source})"
                if e.joules is not None
                else e.source
            )
            console.print(
                f"{p.target['target']} energy per {e.audio_s:g} s utterance: {measured}; "
                f"estimate {1e3 * e.estimate_j:.2f} mJ (MACs and memory traffic, 45 nm prices)"
            )
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([p.to_dict() for p in profiles], indent=2, sort_keys=True))
        console.print(f"profile: {out}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("profile", help="measure a model's latency on named targets")
    add_model_source(p, required=False)
    p.add_argument(
        "--target",
        action="append",
        help="where to measure: cpu-torch, cpu-onnx, cpu-onnx-int8, cpu-onnx-fp16, cuda-torch; "
        "repeat for several (default cpu-torch)",
    )
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    p.add_argument(
        "--seconds",
        type=positive_float,
        nargs="+",
        default=[1.0, 5.0, 20.0],
        help="whole-utterance lengths to time (default 1 5 20)",
    )
    p.add_argument("--repeats", type=positive_int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", help="write the profiles as JSON here")
    p.add_argument(
        "--export",
        metavar="TABLE",
        help="instead of one model, profile --specs sampled architectures (of the heads "
        "--decoders names) part by part, and the streaming ones chunk by chunk, into a "
        "latency table (JSON) that a search can use; extends an existing table",
    )
    p.add_argument(
        "--decoders",
        nargs="+",
        choices=list(DECODERS),
        default=None,
        help="head kinds of the architectures --export samples (default: every kind)",
    )
    p.add_argument(
        "--export-memory",
        metavar="FILE",
        help="instead of one model, measure the peak inference memory of --specs sampled "
        "architectures, each in a fresh process, into a memory table (JSON) that a search "
        "can use (hardware.memory_table); extends an existing file",
    )
    p.add_argument(
        "--specs", type=positive_int, default=200, help="models for --export, --export-memory"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="sampling seed for --export, --export-memory"
    )
    p.add_argument(
        "--table-seconds",
        type=positive_float,
        default=5.0,
        help="audio length a table (--export, --export-memory) is measured on (default 5)",
    )
    p.set_defaults(func=_run)
