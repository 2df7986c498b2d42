"""``speechnas space show | count | sample``: inspect a search space.

Without ``--config`` the default space is used; ``--config space.yaml`` reads the fields of
:class:`~speechnas.space.SpeechSpace` (unknown keys are errors). ``--streaming`` overrides the
space's streaming mode.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from speechnas.cli._types import positive_int

__all__ = ["register"]


def _load_space(args: argparse.Namespace) -> Any:
    from speechnas._config_io import dataclass_from_mapping, read_yaml
    from speechnas.space import SpeechSpace

    data: dict[str, Any] = read_yaml(args.config) if args.config else {}
    if args.streaming:
        data["streaming"] = args.streaming
    return dataclass_from_mapping(SpeechSpace, data, where=args.config or "space")


def _sci(n: int) -> str:
    return f"{n:.3e}" if n >= 10**6 else f"{n:,}"


def _count(args: argparse.Namespace) -> int:
    space = _load_space(args)
    total = space.count()
    if args.by_family:
        for (encoder, streaming), n in space.count_by_block().items():
            mode = "streaming" if streaming else "full-context"
            print(f"{encoder:12s} {mode:13s} {n} ({_sci(n)})")
    print(total)
    return 0


def _show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    space = _load_space(args)
    table = Table(title="search space")
    table.add_column("dimension")
    table.add_column("choices")
    for name, value in space.to_dict().items():
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        table.add_row(name, shown)
    counts = Table(title="distinct architectures")
    for col in ("encoder", "mode", "count"):
        counts.add_column(col, justify="right" if col == "count" else "left")
    for (encoder, streaming), n in space.count_by_block().items():
        counts.add_row(encoder, "streaming" if streaming else "full-context", _sci(n))
    counts.add_row("total", "", _sci(space.count()))
    console = Console()
    console.print(table)
    console.print(counts)
    print(f"exact count: {space.count()}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import numpy as np

    space = _load_space(args)
    rng = np.random.default_rng(args.seed)
    specs = [space.sample(rng) for _ in range(args.num)]
    for spec in specs:
        if args.json:
            print(json.dumps({"arch_id": spec.arch_id, "spec": spec.to_dict()}, sort_keys=True))
            continue
        line = f"{spec.arch_id}  {spec.summary()}"
        if args.stats:
            line += "  " + _stats(spec)
        print(line)
    return 0


def _stats(spec: Any, vocab_size: int = 32) -> str:
    """Params, MACs and memory of ``spec`` with a character-sized output layer."""
    from speechnas.models import build_model

    model = build_model(spec, vocab_size=vocab_size, specaugment=False)
    return (
        f"params {model.num_params() / 1e6:.2f} M, "
        f"{model.macs(1.0) / 1e6:.0f} MMAC/s, "
        f"act {model.activation_bytes(5.0) / 2**20:.0f} MiB @5 s"
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("space", help="show, count or sample a search space")
    cmds = p.add_subparsers(dest="space_command", metavar="SUBCOMMAND")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", help="YAML file with SpeechSpace fields (default: built-in)")
        q.add_argument("--streaming", choices=("off", "on", "both"), help="override the mode")

    q = cmds.add_parser("show", help="the dimensions, their choices and the counts")
    common(q)
    q.set_defaults(func=_show)
    q = cmds.add_parser("count", help="print the exact number of distinct architectures")
    common(q)
    q.add_argument("--by-family", action="store_true", help="also per encoder family and mode")
    q.set_defaults(func=_count)
    q = cmds.add_parser("sample", help="draw architectures uniformly")
    common(q)
    q.add_argument("-n", "--num", type=positive_int, default=5, help="how many (default 5)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.add_argument(
        "--stats", action="store_true", help="build each and print params, MACs, memory"
    )
    q.set_defaults(func=_sample)
