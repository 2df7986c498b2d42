"""``speechnas data``: prepare, stats, split, validate and synth."""

from __future__ import annotations

import argparse

from speechnas.cli import data_synth

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("data", help="prepare, inspect, split, validate or synthesise data")
    group = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    # TODO: prepare, stats, split, validate
    data_synth.register(group)
