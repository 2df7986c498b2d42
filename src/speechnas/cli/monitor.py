"""``speechnas monitor``: has a deployed bundle's latency drifted from what it was chosen for?"""

from __future__ import annotations

import argparse
from pathlib import Path

from speechnas.cli._types import positive_float, positive_int

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from speechnas.export.monitor import HISTORY, check_drift, plot_history

    figures = check_drift(
        args.bundle, tolerance=args.tolerance, repeats=args.repeats, history=args.history
    )
    table = Table(title=f"{args.bundle}: latency against the export's record")
    for col in ("variant", "figure", "recorded ms", "measured ms", "band ms", "status"):
        table.add_column(
            col, justify="left" if col in ("variant", "figure", "status") else "right"
        )
    for f in figures:
        table.add_row(
            f.variant,
            f.what,
            f"{f.recorded_ms:.2f}",
            f"{f.measured_ms:.2f}",
            f"±{f.band_ms:.2f}",
            {"slower": "DRIFTED (slower)", "faster": "faster", "ok": "ok"}[f.status],
        )
    Console(highlight=False).print(table)
    history = Path(args.history) if args.history else Path(args.bundle) / HISTORY
    print(f"history: {history}")
    if args.plot:
        print(f"plot: {plot_history(history, args.plot)}")
    drifted = [f for f in figures if f.status == "slower"]
    if drifted:
        names = ", ".join(f"{f.variant} {f.what}" for f in drifted)
        print(f"drifted beyond the band: {names}")
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "monitor",
        help="measure an exported bundle again and compare with the latency it recorded",
        description=(
            "Re-measure every variant of an export bundle on this machine (whole utterances, "
            "and per chunk for streamed variants) as the export measured it, compare with "
            "the recorded figures within the measurement's own noise band, append the run "
            "to a history, and exit 1 when a figure is slower beyond its band."
        ),
    )
    p.add_argument("--bundle", required=True, help="the folder speechnas export wrote")
    p.add_argument(
        "--tolerance",
        type=positive_float,
        default=0.1,
        help="the smallest band, as a share of the recorded figure (default 0.1)",
    )
    p.add_argument("--repeats", type=positive_int, default=20, help="timed runs per figure")
    p.add_argument("--history", help="the history file (default BUNDLE/monitor.jsonl)")
    p.add_argument("--plot", help="draw the history as a PNG here")
    p.set_defaults(func=_run)
