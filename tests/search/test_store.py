"""A study remembers its config: a resumed search may change only where and how long it
runs, not what it trains."""

from __future__ import annotations

import copy
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from speechnas.errors import ConfigMismatch, UserError
from speechnas.search.store import SCHEMA_VERSION, SearchStore
from speechnas.train import TrainSettings

OBJECTIVES = ("wer", "latency_ms")


def _config(**train: Any) -> dict[str, Any]:
    settings = TrainSettings(**train)
    return {"seed": 0, "n_trials": 4, "train": asdict(settings) | {"speed_perturb": [1.0]}}


def test_device_threads_and_budget_may_change_on_resume(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SearchStore(url, "s", OBJECTIVES, _config())
    SearchStore(url, "s", OBJECTIVES, _config(device="cuda", threads=2) | {"n_trials": 9})


def test_a_study_written_before_train_device_existed_resumes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    older = copy.deepcopy(_config())
    del older["train"]["device"]
    SearchStore(url, "s", OBJECTIVES, older)
    SearchStore(url, "s", OBJECTIVES, _config())


def test_what_is_trained_may_not_change(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SearchStore(url, "s", OBJECTIVES, _config())
    with pytest.raises(UserError, match=r"differs in \['train'\]"):
        SearchStore(url, "s", OBJECTIVES, _config(lr=1e-4))
    with pytest.raises(UserError, match=r"differs in \['seed'\]"):
        SearchStore(url, "s", OBJECTIVES, _config() | {"seed": 1})


def test_a_study_of_another_schema_version_is_refused_by_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = SearchStore(url, "s", OBJECTIVES, _config())
    store.study.set_user_attr("schema_version", SCHEMA_VERSION + 1)
    with pytest.raises(ConfigMismatch, match="schema version") as refused:
        SearchStore(url, "s", OBJECTIVES, _config())
    assert refused.value.changed == ["schema_version"]
    # It crosses process boundaries (worker pools) whole.
    again = pickle.loads(pickle.dumps(refused.value))
    assert (str(again), again.changed) == (str(refused.value), ["schema_version"])
