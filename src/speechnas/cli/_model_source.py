"""Where a command gets its model: a preset, a spec file, or a trained checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from speechnas.errors import UserError

if TYPE_CHECKING:
    from speechnas.arch import ArchSpec
    from speechnas.models import SpeechModel
    from speechnas.text import Tokenizer

__all__ = ["add_model_source", "load_model_source"]


def add_model_source(
    p: argparse.ArgumentParser, *, checkpoint_only: bool = False, required: bool = True
) -> None:
    if checkpoint_only:
        p.add_argument("--checkpoint", required=True, help="a checkpoint written by train")
        return
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--preset", help="a preset architecture (untrained weights)")
    group.add_argument("--spec", help="an architecture as JSON (untrained weights)")
    group.add_argument("--checkpoint", help="a checkpoint written by train or search")


def load_model_source(
    args: argparse.Namespace,
) -> tuple[SpeechModel, ArchSpec, Tokenizer | None]:
    """The model named by ``--preset``, ``--spec`` or ``--checkpoint`` (eval mode).

    Presets and specs get seeded random weights and a 30-token output layer: enough to measure
    latency, which does not depend on the weights. A checkpoint brings its tokenizer too.
    """
    from speechnas.arch import ArchSpec
    from speechnas.hardware.measure import untrained_model
    from speechnas.presets import preset

    if getattr(args, "checkpoint", None):
        from speechnas.train import load_model

        model, tokenizer, state = load_model(args.checkpoint)
        return model, ArchSpec.from_dict(state["arch"]), tokenizer
    if getattr(args, "preset", None):
        try:
            spec = preset(args.preset)
        except ValueError as e:
            raise UserError(f"--preset: {e}") from None
    else:
        path = Path(args.spec)
        try:
            spec = ArchSpec.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise UserError(f"--spec: {path} not found") from None
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise UserError(f"--spec: {path} is not a valid architecture: {e}") from None
    return untrained_model(spec), spec, None
