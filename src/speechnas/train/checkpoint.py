"""Checkpoint I/O. A checkpoint is a plain dict that loads with ``weights_only=True``:

``model`` (state dict), ``optimizer`` (state dict), ``step``, ``epoch``, ``batch_in_epoch``
(batches of ``epoch`` already done), ``config`` (the resolved ``TrainConfig`` as a dict),
``arch`` (the ``ArchSpec`` as a dict), ``tokenizer`` (its JSON-safe state), ``best_dev``
(best dev WER so far or ``None``), ``torch_rng`` (the global CPU generator, for dropout),
``augment_rng`` (the SpecAugment generator) and ``version``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.models import SpeechModel, build_model
from speechnas.text import Tokenizer, tokenizer_from_state

__all__ = ["CHECKPOINT_VERSION", "load_checkpoint", "load_model", "save_checkpoint"]

CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` atomically (temp file, then rename) so a kill never leaves half a file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save({**state, "version": CHECKPOINT_VERSION}, tmp)
    os.replace(tmp, out)
    return out


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Raises:
        UserError: missing file, or not a speechnas checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as e:
        raise UserError(f"{p}: not a readable checkpoint: {e}") from e
    if not isinstance(state, dict) or "model" not in state or "arch" not in state:
        raise UserError(f"{p}: not a speechnas checkpoint (no 'model'/'arch' entries)")
    return state


def load_model(path: str | os.PathLike[str]) -> tuple[SpeechModel, Tokenizer, dict[str, Any]]:
    """Rebuild the model and tokenizer stored in a checkpoint, in eval mode."""
    state = load_checkpoint(path)
    try:
        spec = ArchSpec.from_dict(state["arch"])
        tokenizer = tokenizer_from_state(state["tokenizer"])
        specaug = bool(state.get("config", {}).get("specaugment", True))
        model = build_model(spec, vocab_size=tokenizer.vocab_size, specaugment=specaug)
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise UserError(f"{path}: the checkpoint does not match this speechnas: {e}") from e
    model.eval()
    return model, tokenizer, state
