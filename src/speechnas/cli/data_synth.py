"""``speechnas data synth``: the built-in synthetic corpus."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("synth", help="generate the built-in synthetic corpus")
