"""A run in progress: what a saved state must share with the config, and its file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from speechnas.errors import UserError
from speechnas.testing.planted import plant_pickle
from speechnas.train.partial import PartialRun, read_run_file, resume_key


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


def test_a_run_state_round_trips_as_plain_data(tmp_path: Path) -> None:
    """What a run saves (weights, optimiser, generators, positions, history) comes back
    equal from a weights-only load, and rebuilds the optimiser and the generators."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    net(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    rng = np.random.default_rng(7)
    rng.random(3)
    state = {
        "weights": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "step": 4,
        "seconds": 1.5,
        "position": (1, 2),
        "history": [{"step": 1, "loss": 0.5, "val": None, "probs": [[0.25, 0.75]]}],
    }
    run = PartialRun(tmp_path / "run.partial.pt", "k", every_minutes=0.0, what="test")
    run.save(state)
    loaded = run.load()
    assert loaded is not None
    for name in ("step", "seconds", "position", "history", "rng"):
        assert loaded[name] == state[name], name
    assert torch.equal(loaded["torch_rng"], state["torch_rng"])
    for name, t in state["weights"].items():
        assert torch.equal(loaded["weights"][name], t), name
    again = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1e-2)
    again.load_state_dict(loaded["optimizer"])
    assert again.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    rebuilt = np.random.default_rng(0)
    rebuilt.bit_generator.state = loaded["rng"]
    assert rebuilt.random() == rng.random()


def test_a_planted_pickle_never_runs_and_names_its_file(tmp_path: Path) -> None:
    path = tmp_path / "run.partial.pt"
    marker = plant_pickle(path)
    with pytest.raises(UserError) as refused:
        PartialRun(path, "a", every_minutes=0.0, what="test").load()
    assert not marker.exists(), "the planted pickle ran"
    assert re.search(r"run\.partial\.pt: not a partial run: .*move it away", str(refused.value))
    with pytest.raises(UserError, match=r"run\.partial\.pt"):
        read_run_file(path)
    assert not marker.exists(), "the planted pickle ran"


def test_an_unreadable_file_is_a_user_error_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "run.partial.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="run.partial.pt: not a partial run"):
        PartialRun(path, "a", every_minutes=0.0, what="test").load()
    assert path.read_bytes() == b"not a checkpoint"
    with pytest.raises(UserError, match="run file not found: .*missing.pt"):
        read_run_file(tmp_path / "missing.pt")


def test_a_save_is_due_every_so_many_minutes() -> None:
    assert PartialRun(Path("x"), "a", every_minutes=0.0, what="test").due()
    assert not PartialRun(Path("x"), "a", every_minutes=60.0, what="test").due()
