"""A search whose dev set has nothing to score stops with a user error; no trial scores 0."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from speechnas.cli import main
from speechnas.data.manifest import Utterance, write_manifest
from speechnas.search.config import search_config_from_dict
from speechnas.testing.audio_fixtures import make_bad_files, make_corpus
from speechnas.testing.search import tiny_search


def _unusable_dev(root: Path) -> Path:
    """Clips that cannot be scored: an empty file, a text file, and a punctuation-only one."""
    bad = {u.id: u for u in make_bad_files(root / "bad")}
    (clip,) = make_corpus(root / "clip", n=1, seed=5)
    punctuation = Utterance("punct", clip.audio_path, clip.duration, "?! ...", "s")
    return write_manifest([bad["bad_empty"], bad["bad_text"], punctuation], root / "dev.jsonl")


def test_search_with_an_unscorable_dev_set_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_search(tmp_path, n_trials=2)
    dev = _unusable_dev(tmp_path / "unusable")
    config["data"] = {**config["data"], "dev_manifest": str(dev)}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(config))

    assert main(["search", "--config", str(path), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert f"dev set {dev}: nothing to score" in captured.err
    assert "final:" not in captured.out

    storage = search_config_from_dict(config).storage_url
    study = optuna.load_study(study_name="tiny", storage=storage)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    assert complete == []
    assert not any("wer" in t.user_attrs.get("metrics", {}) for t in study.get_trials())


def test_a_test_set_with_nothing_to_score_stops_the_search_before_any_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found at the start, not by the final stage after the whole search."""
    config = tiny_search(tmp_path, n_trials=2)
    empty = write_manifest([], tmp_path / "empty.jsonl")
    config["data"] = {**config["data"], "test_manifests": {"held-out": str(empty)}}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(config))

    assert main(["search", "--config", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"test set held-out ({empty}): nothing to score: the set has no utterances" in err
    storage = search_config_from_dict(config).storage_url
    assert optuna.load_study(study_name="tiny", storage=storage).get_trials() == []
