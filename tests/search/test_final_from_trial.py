"""The final retraining: it starts from the trial's weights when ``final.from_trial`` asks and
it can, and keeps the checkpoint the search's metric prefers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speechnas.errors import ConfigError
from speechnas.search import final
from speechnas.search.config import search_config_from_dict
from speechnas.search.store import TrialRecord
from speechnas.testing.search import tiny_search
from speechnas.train import TrainConfig


class _Stop(Exception):
    pass


def _retraining(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    from_trial: bool,
    checkpoint: Path,
    metric: str = "wer",
) -> TrainConfig:
    seen: list[TrainConfig] = []

    def fake_train(config: TrainConfig, **_: Any) -> None:
        seen.append(config)
        raise _Stop

    monkeypatch.setattr(final, "train", fake_train)
    raw = tiny_search(tmp_path, final={"top_k": 1, "epochs": 2, "from_trial": from_trial})
    raw["fidelity"]["metric"] = metric
    config = search_config_from_dict(raw)
    spec = config.space.sample(np.random.default_rng(0))
    record = TrialRecord(
        number=3,
        state="COMPLETE",
        spec=spec,
        arch_id=spec.arch_id,
        values={},
        metrics={},
        rung=1,
        reason="",
        wall_seconds=1.0,
        cached_from=None,
        curve=[],
        checkpoint=str(checkpoint),
        train_seconds=42.0,
    )
    with pytest.raises(_Stop):
        final._retrain(record, config, tmp_path / "out")
    (config_seen,) = seen
    return config_seen


def _started_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_trial: bool, checkpoint: Path
) -> str | None:
    return _retraining(tmp_path, monkeypatch, from_trial, checkpoint).init_checkpoint


def test_the_trial_weights_start_the_final_retraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = tmp_path / "trial_best.pt"
    ckpt.write_bytes(b"weights")
    assert _started_from(tmp_path, monkeypatch, True, ckpt) == str(ckpt)
    assert _started_from(tmp_path, monkeypatch, False, ckpt) is None


def test_weights_trained_elsewhere_mean_a_retraining_from_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert _started_from(tmp_path, monkeypatch, True, tmp_path / "gone.pt") is None
    assert "retrained from scratch" in caplog.text


@pytest.mark.parametrize("metric", ["wer", "cer"])
def test_the_retraining_keeps_the_checkpoint_the_search_metric_prefers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metric: str
) -> None:
    config = _retraining(tmp_path, monkeypatch, False, tmp_path / "none.pt", metric=metric)
    assert config.select_metric == metric


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_an_int8_export_that_loses_too_much_is_fine_tuned_aware_of_its_rounding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechnas.search.runner import run_search

    final_stage = {
        "top_k": 1,
        "epochs": 1,
        "export": ["int8"],
        "qat_threshold": 0.0,
        "qat_epochs": 1,
    }
    config = search_config_from_dict(tiny_search(tmp_path, n_trials=2, final=final_stage))
    summary = run_search(config, progress=False)
    seen: list[TrainConfig] = []
    real_train = final.train

    def spy(train_config: TrainConfig, **kwargs: Any) -> Any:
        seen.append(train_config)
        return real_train(train_config, **kwargs)

    monkeypatch.setattr(final, "train", spy)
    # Whatever this tiny model's INT8 loss, call it over the limit: the fine-tune must run.
    monkeypatch.setattr(final, "_int8_loss", lambda result: 0.5)
    (result,) = final.run_final(summary.front, config)
    retrain, tune = seen
    assert not retrain.simulate_int8 and tune.simulate_int8
    assert tune.init_checkpoint == result["checkpoint"] and tune.lr == config.train.lr / 10
    qat = result["qat"]
    assert qat["int8_loss_before"] == 0.5 and qat["epochs"] == 1
    names = [v["name"] for v in qat["export"]["variants"]]
    assert names == ["pytorch", "onnx-int8"]
    with pytest.raises(ConfigError, match="qat_threshold compares the INT8 export"):
        search_config_from_dict(tiny_search(tmp_path, final={"qat_threshold": 0.02}))
