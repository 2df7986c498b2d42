"""``speechnas demo``: the built-in end-to-end job on the synthetic default corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechnas.cli._types import positive_float, positive_int
from speechnas.demo import DemoSettings

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from speechnas.demo import run_demo

    settings = DemoSettings(
        hours=args.hours, epochs=args.epochs, train_minutes=args.train_minutes, seed=args.seed
    )
    payload = run_demo(args.out, settings)
    table = Table(title="speechnas demo")
    for col in ("model", "test set", "utts", "WER", "CER", "RTF"):
        table.add_column(col, justify="left" if col in ("model", "test set") else "right")
    for r in payload["results"]:
        rtf = "-" if r["rtf"] is None else f"{r['rtf']:.4f}"
        table.add_row(
            r["model"],
            r["name"],
            str(r["utterances"]),
            f"{100 * r['wer']:.1f}%",
            f"{100 * r['cer']:.1f}%",
            rtf,
        )
    Console().print(table)
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="synthesise the default corpus, train, evaluate, report")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    defaults = DemoSettings()
    p.add_argument(
        "--hours", type=positive_float, default=defaults.hours, help="synthetic audio (h)"
    )
    p.add_argument("--epochs", type=positive_int, default=defaults.epochs, help="training epochs")
    p.add_argument(
        "--train-minutes",
        type=positive_float,
        default=defaults.train_minutes,
        help="cap on training time, for slow machines",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)
