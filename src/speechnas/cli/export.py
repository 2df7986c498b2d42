"""``speechnas export``: ONNX (FP32, INT8, FP16) copies of a checkpoint, measured."""

from __future__ import annotations

import argparse

from speechnas.cli._model_source import add_model_source, load_model_source
from speechnas.cli._types import positive_int
from speechnas.cli.evaluate import test_sets

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from speechnas.data.manifest import read_manifest
    from speechnas.export import export_bundle

    sets = {name: read_manifest(path) for name, path in test_sets(args.test or []).items()}
    model, spec, tokenizer = load_model_source(args)
    assert tokenizer is not None  # a checkpoint always has one
    console = Console()
    with console.status(f"exporting {spec.summary()} and measuring each precision"):
        report = export_bundle(
            model,
            spec,
            tokenizer,
            args.out,
            precisions=args.precision,
            test_sets=sets,
            num_threads=args.threads,
        )
    table = Table(
        title=f"{spec.summary()}: latency for {report.latency_audio_s:g} s of audio, "
        f"{report.threads} thread(s)"
    )
    # Whole names: "onnx-stream-int8" must not be cut to fit a narrow terminal.
    width = max(len(v.name) for v in report.variants)
    table.add_column("variant", no_wrap=True, min_width=width)
    for col in ("size", "latency", "p90", "chunk"):
        table.add_column(col, justify="right", no_wrap=True)
    for name in sets:
        table.add_column(f"{name} WER", justify="right", no_wrap=True)
        table.add_column(f"{name} CER", justify="right", no_wrap=True)
    for v in report.variants:
        row = [
            v.name,
            f"{v.size_mb:.2f} MB",
            f"{v.latency_ms:.1f} ms",
            f"{v.latency_p90_ms:.1f} ms",
            f"{v.chunk_ms:.2f} ms" if v.chunk_ms is not None else "-",
        ]
        for name in sets:
            row += [f"{100 * v.scores[name]['wer']:.1f}%", f"{100 * v.scores[name]['cer']:.1f}%"]
        table.add_row(*row)
    console.print(table)
    console.print(f"written: {args.out}/ (model*.onnx, deploy.json, export.json)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export", help="export a checkpoint to ONNX (FP32/INT8/FP16) and measure each"
    )
    add_model_source(p, checkpoint_only=True)
    p.add_argument("--out", required=True, help="folder to write the exported files to")
    p.add_argument(
        "--precision",
        nargs="+",
        default=["fp32", "int8"],
        choices=["fp32", "int8", "fp16"],
        help="precisions to write (default fp32 int8)",
    )
    p.add_argument(
        "--test",
        action="append",
        metavar="[NAME=]MANIFEST",
        help="score every variant on this test set; repeat for several",
    )
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    p.set_defaults(func=_run)
