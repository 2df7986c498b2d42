"""Checkpoint I/O. A checkpoint is a plain dict that loads with ``weights_only=True``:

``model`` (state dict), ``optimizer`` (state dict), ``step``, ``epoch``, ``batch_in_epoch``
(batches of ``epoch`` already done), ``config`` (the resolved ``TrainConfig`` as a dict),
``arch`` (the ``ArchSpec`` as a dict), ``tokenizer`` (its JSON-safe state), ``best_dev``
(best dev WER so far or ``None``), ``torch_rng`` (the global CPU generator, for dropout),
``augment_rng`` (the SpecAugment generator) and ``version``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.models import SpeechModel, build_model
from speechnas.text import Tokenizer, tokenizer_from_state

__all__ = [
    "CHECKPOINT_VERSION",
    "load_checkpoint",
    "load_model",
    "read_saved",
    "save_checkpoint",
]

CHECKPOINT_VERSION = 1

#: Entries every checkpoint of a trained model has (others are read where they are needed).
REQUIRED_KEYS = ("model", "arch", "tokenizer")


def _one_line(e: Exception, limit: int = 240) -> str:
    """``e``'s message on one line, cut to ``limit`` characters (torch's run to pages)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` atomically (temp file, then rename) so a kill never leaves half a file.

    Raises:
        OSError: the file cannot be written (no permission, a read-only or full disk); it
            names ``path``, and the checkpoint that was there before is left as it was.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        # Through a Python file: torch's own writer turns a full disk into an opaque
        # RuntimeError, a Python file raises OSError(ENOSPC).
        with open(tmp, "wb") as f:
            torch.save({**state, "version": CHECKPOINT_VERSION}, f)
        os.replace(tmp, out)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(out)) from e
    return out


def read_saved(path: str | os.PathLike[str], kind: str = "checkpoint") -> Any:
    """What :func:`save_checkpoint` (or ``torch.save``) wrote to ``path``, loaded with
    ``weights_only=True`` onto the CPU: tensors and plain data only, so nothing in the file
    can run code, whoever put it there.

    Args:
        kind: what the file should be, for the messages ("checkpoint", "partial run", ...).

    Raises:
        UserError: naming the file and what is wrong: missing, not a file written by
            ``torch.save`` (a text file, a file cut short), or holding objects other than
            tensors and plain data.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{kind} not found: {p}")
    # torch.save writes a zip archive whose directory is at the end: a text file, or a
    # file cut short by a full disk or an interrupted copy, fails here.
    if not zipfile.is_zipfile(p):
        raise UserError(
            f"{p}: not a {kind}: not a file written by torch.save, or one cut short "
            f"({p.stat().st_size:,} bytes)"
        )
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message suggests weights_only=False, which must not be followed for a file
        # that may come from anyone.
        raise UserError(
            f"{p}: not a {kind}: it holds objects other than tensors and plain data"
        ) from None
    except Exception as e:  # torch raises many kinds for a damaged archive
        raise UserError(f"{p}: not a readable {kind}: {_one_line(e)}") from e


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (:func:`read_saved`).

    Raises:
        UserError: :func:`read_saved`'s, or not a speechnas checkpoint (entries missing).
    """
    p = Path(path)
    state = read_saved(p, "checkpoint")
    if not isinstance(state, dict):
        raise UserError(f"{p}: not a speechnas checkpoint (it holds a {type(state).__name__})")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise UserError(
            f"{p}: not a speechnas checkpoint (no {', '.join(map(repr, missing))} entries)"
        )
    return state


def load_model(path: str | os.PathLike[str]) -> tuple[SpeechModel, Tokenizer, dict[str, Any]]:
    """Rebuild the model and tokenizer stored in a checkpoint, in eval mode.

    Raises:
        UserError: :func:`load_checkpoint`'s, or a checkpoint whose architecture, tokenizer
            or weights this speechnas cannot use (named).
    """
    state = load_checkpoint(path)
    try:
        spec = ArchSpec.from_dict(state["arch"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: the checkpoint's architecture is invalid: {e}") from e
    try:
        tokenizer = tokenizer_from_state(state["tokenizer"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: the checkpoint's tokenizer is invalid: {e}") from e
    config = state.get("config")
    specaug = bool(config.get("specaugment", True)) if isinstance(config, dict) else True
    try:
        model = build_model(spec, vocab_size=tokenizer.vocab_size, specaugment=specaug)
    except ValueError as e:  # an architecture this speechnas reads but cannot build
        raise UserError(f"{path}: the checkpoint's architecture cannot be built: {e}") from e
    try:
        model.load_state_dict(state["model"])
    except (TypeError, ValueError, RuntimeError) as e:
        raise UserError(
            f"{path}: the checkpoint's weights do not fit its architecture: {_one_line(e)}"
        ) from e
    model.eval()
    return model, tokenizer, state
