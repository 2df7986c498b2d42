"""A run in progress: what a saved state must share with the config, and its file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from speechnas.train.partial import PartialRun, resume_key


@dataclass(frozen=True)
class _Inner:
    device: str = "cpu"
    lr: float = 1e-3


@dataclass(frozen=True)
class _Config:
    max_steps: int = 10
    seed: int = 0
    inner: _Inner = field(default_factory=_Inner)


IGNORE = ("max_steps", "inner.device")


def test_the_key_ignores_the_named_fields_and_nothing_else() -> None:
    key = resume_key(_Config(), IGNORE)
    assert resume_key(_Config(max_steps=99, inner=_Inner(device="cuda")), IGNORE) == key
    assert resume_key(_Config(seed=1), IGNORE) != key
    assert resume_key(_Config(inner=_Inner(lr=1.0)), IGNORE) != key


def test_a_saved_state_loads_only_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "run.partial.pt"
    run = PartialRun(path, "a", every_minutes=0.0, what="test")
    assert run.load() is None
    run.save({"step": 3, "weights": torch.ones(2)})
    loaded = run.load()
    assert loaded is not None and loaded["step"] == 3
    assert torch.equal(loaded["weights"], torch.ones(2))
    assert PartialRun(path, "b", every_minutes=0.0, what="test").load() is None
    run.discard()
    assert not path.exists() and run.load() is None
    run.discard()  # already gone: nothing to do


def test_an_unreadable_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "run.partial.pt"
    path.write_bytes(b"not a checkpoint")
    assert PartialRun(path, "a", every_minutes=0.0, what="test").load() is None


def test_a_save_is_due_every_so_many_minutes() -> None:
    assert PartialRun(Path("x"), "a", every_minutes=0.0, what="test").due()
    assert not PartialRun(Path("x"), "a", every_minutes=60.0, what="test").due()
