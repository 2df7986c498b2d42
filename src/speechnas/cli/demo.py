"""``speechnas demo``: the built-in search on the synthetic default corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechnas.cli._logging import quiet_optuna
from speechnas.cli._types import positive_float, positive_int
from speechnas.demo import DemoSettings

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from speechnas.demo import run_demo

    quiet_optuna(args)
    settings = DemoSettings(
        hours=args.hours,
        trials=args.trials,
        rung_steps=args.rung_steps,
        final_epochs=args.final_epochs,
        final_minutes=args.final_minutes,
        seed=args.seed,
    )
    payload = run_demo(args.out, settings, progress=not args.no_progress)
    table = Table(title="Pareto front: dev WER vs CPU latency")
    for col in ("trial", "architecture", "dev WER", "latency ms", "params"):
        table.add_column(col, justify="left" if col == "architecture" else "right")
    for r in payload["front"]:
        table.add_row(
            str(r["trial"]),
            r["summary"],
            f"{100 * r['wer']:.1f}%",
            f"{r['latency_ms']:.0f}",
            f"{int(r['params']):,}",
        )
    Console().print(table)
    for f in payload["final"]:
        scores = ", ".join(f"{k} WER {100 * v['wer']:.1f}%" for k, v in f["scores"].items())
        print(f"best, retrained: trial {f['trial']} {f['summary']}: {scores}")
    print(f"checkpoint: {payload['checkpoint']}")
    print(f"report: {Path(args.out) / 'report.md'} and {payload['report']}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="synthesise the default corpus, search, retrain, report")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    defaults = DemoSettings()
    p.add_argument(
        "--hours", type=positive_float, default=defaults.hours, help="synthetic audio (h)"
    )
    p.add_argument(
        "--trials", type=positive_int, default=defaults.trials, help="architectures to try"
    )
    p.add_argument(
        "--rung-steps",
        type=positive_int,
        default=defaults.rung_steps,
        help="training steps of each trial's first rung (the second has 3x more)",
    )
    p.add_argument(
        "--final-epochs",
        type=positive_int,
        default=defaults.final_epochs,
        help="epochs of the best architecture's final training",
    )
    p.add_argument(
        "--final-minutes",
        type=positive_float,
        default=defaults.final_minutes,
        help="cap on that training (minutes)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.set_defaults(func=_run)
