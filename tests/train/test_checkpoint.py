"""Checkpoint I/O: every file that cannot be loaded is a ``UserError`` naming it and what is
wrong, and a failed save leaves the checkpoint that was there before."""

from __future__ import annotations

import errno
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from speechnas.arch import ArchSpec, LayerSpec
from speechnas.errors import UserError
from speechnas.models import build_model
from speechnas.text import build_tokenizer
from speechnas.train.checkpoint import load_checkpoint, load_model, save_checkpoint

SPEC = ArchSpec(n_mels=40, layers=(LayerSpec(width=16, heads=2, kernel=3),))


def write_checkpoint(path: Path, **changes: Any) -> Path:
    """A small checkpoint of ``SPEC`` as training writes it (``changes`` replace entries)."""
    tokenizer = build_tokenizer("char", ["one two three"])
    model = build_model(SPEC, vocab_size=tokenizer.vocab_size)
    state = {
        "model": model.state_dict(),
        "arch": SPEC.to_dict(),
        "tokenizer": tokenizer.to_state(),
        "config": {"specaugment": True},
        "step": 3,
        **changes,
    }
    return save_checkpoint(path, state)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return write_checkpoint(tmp_path / "best.pt")


def test_a_checkpoint_loads(checkpoint: Path) -> None:
    model, tokenizer, state = load_model(checkpoint)
    assert state["step"] == 3 and tokenizer.vocab_size > 0 and not model.training


def _truncated(checkpoint: Path) -> Path:
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    return checkpoint


def _text(checkpoint: Path) -> Path:
    checkpoint.write_text("notes about the run\n")
    return checkpoint


def _empty(checkpoint: Path) -> Path:
    checkpoint.write_bytes(b"")
    return checkpoint


def _other_zip(checkpoint: Path) -> Path:
    with zipfile.ZipFile(checkpoint, "w") as z:
        z.writestr("readme.txt", "not a torch file")
    return checkpoint


def _unsafe_pickle(checkpoint: Path) -> Path:
    torch.save({"model": {}, "arch": {}, "tokenizer": {}, "extra": io.StringIO("x")}, checkpoint)
    return checkpoint


def _a_list(checkpoint: Path) -> Path:
    torch.save([1, 2, 3], checkpoint)
    return checkpoint


def _no_tokenizer(checkpoint: Path) -> Path:
    state = torch.load(checkpoint, weights_only=True)
    del state["tokenizer"]
    torch.save(state, checkpoint)
    return checkpoint


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncated, "not a checkpoint: not a file written by torch.save, or one cut short"),
        (_text, "not a checkpoint: not a file written by torch.save, or one cut short"),
        (_empty, "not a checkpoint: not a file written by torch.save, or one cut short"),
        (_other_zip, "not a readable checkpoint"),
        (_unsafe_pickle, "holds objects other than tensors and plain data"),
        (_a_list, "not a speechnas checkpoint (it holds a list)"),
        (_no_tokenizer, "not a speechnas checkpoint (no 'tokenizer' entries)"),
    ],
)
def test_a_file_that_cannot_be_loaded_is_named(
    checkpoint: Path, damage: Any, message: str
) -> None:
    damage(checkpoint)
    for load in (load_checkpoint, load_model):
        with pytest.raises(UserError) as e:
            load(checkpoint)
        assert str(e.value).startswith(f"{checkpoint}: ") and message in str(e.value)
        assert "\n" not in str(e.value)


def test_a_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="checkpoint not found: .*none.pt"):
        load_model(tmp_path / "none.pt")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arch": {"encoder": "transformer-xl"}}, "the checkpoint's architecture is invalid"),
        ({"tokenizer": {"kind": "words"}}, "the checkpoint's tokenizer is invalid"),
        ({"model": {"head.weight": torch.zeros(2)}}, "the checkpoint.s weights do not fit"),
    ],
)
def test_a_checkpoint_this_speechnas_cannot_use_is_named(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = write_checkpoint(tmp_path / "best.pt", **changes)
    with pytest.raises(UserError, match=f"{path}: {message}"):
        load_model(path)


def test_a_full_disk_keeps_the_checkpoint_that_was_there(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = checkpoint.read_bytes()

    def full_disk(obj: object, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04 some bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left on device") as e:
        write_checkpoint(checkpoint)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(checkpoint)
    assert checkpoint.read_bytes() == before
    assert [p.name for p in checkpoint.parent.iterdir()] == [checkpoint.name]
