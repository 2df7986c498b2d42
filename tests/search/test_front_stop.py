"""Multi-objective early stopping by predicted final scores (``fidelity.pruner:
predicted_front``): the prediction, its error, the dominance test, and a search using it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from speechnas.errors import ConfigError
from speechnas.search.config import SearchConfig, search_config_from_dict
from speechnas.search.evaluation import objective_values
from speechnas.search.front_stop import FrontStop, ladder_steps
from speechnas.search.pareto import dominates
from speechnas.search.runner import open_store, run_search
from speechnas.search.store import TrialRecord
from speechnas.testing.search import tiny_search
from speechnas.train import TrainConfig, TrainResult

RUNGS = [{"fraction": 1.0, "steps": 20}, {"fraction": 1.0, "steps": 60}]
RATE = 25.0  # steps per e-fold of the fake learning curve


def _config(tmp_path: Path, **fidelity: Any) -> SearchConfig:
    return search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=10,
            strategy="random",
            strategy_options={},
            objectives=["wer", "params"],
            fidelity={"rungs": RUNGS, "pruner": "predicted_front", "min_trials": 2, **fidelity},
        )
    )


def _final(width: int) -> float:
    """The fake model's error at the end of training: wider, better."""
    return 8.0 / width


def _error(width: int, step: int) -> float:
    c = _final(width)
    return c + (1.0 - c) * math.exp(-step / RATE)


def _fake_train(config: TrainConfig, **_: Any) -> TrainResult:
    """Training whose dev error follows the extrapolator's own curve family, so predictions
    from the first rung are exact (to the fit); the second rung continues the first."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = sum(lay.width for lay in config.arch.kept_layers)
    assert config.max_steps is not None
    offset = 0 if config.init_checkpoint is None else RUNGS[0]["steps"]
    with (out / "history.jsonl").open("w") as f:
        for epoch, step in enumerate(range(10, config.max_steps + 1, 10), start=1):
            wer = _error(width, offset + step)
            record = {
                "epoch": epoch,
                "step": step,
                "train_seconds": 0.1 * epoch,
                "dev_wer": wer,
                "dev_cer": wer / 2,
            }
            f.write(json.dumps(record) + "\n")
    (out / "best.pt").write_bytes(b"")
    epochs = config.max_steps // 10
    return TrainResult(out, config.max_steps, epochs, 0.1 * epochs, 1, None, None)


def test_dominance_is_strict_in_one_value() -> None:
    assert dominates([0.1, 5.0], [0.2, 5.0])
    assert not dominates([0.1, 5.0], [0.1, 5.0])
    assert not dominates([0.1, 6.0], [0.2, 5.0])


def test_the_ladder_must_be_budgeted_in_steps(tmp_path: Path) -> None:
    assert ladder_steps(_config(tmp_path)) == 80
    with pytest.raises(ConfigError, match="predicted_front"):
        search_config_from_dict(
            tiny_search(
                tmp_path,
                fidelity={
                    "rungs": [{"fraction": 0.5, "epochs": 1}, {"fraction": 1.0, "epochs": 2}],
                    "pruner": "predicted_front",
                },
            )
        )


def _record(number: int, wer: float, params: float, predictions: list[dict[str, float]]) -> Any:
    return TrialRecord(
        number=number,
        state="COMPLETE",
        spec=None,
        arch_id=f"a{number}",
        values={"wer": wer, "params": params},
        metrics={"wer": wer, "cer": wer / 2, "params": params},
        rung=1,
        reason="",
        wall_seconds=1.0,
        cached_from=None,
        curve=[],
        predictions=tuple(predictions),
    )


def _curve(width: int, upto: int) -> list[dict[str, Any]]:
    return [
        {"rung": 0, "step": s, "dev_wer": _error(width, s), "dev_cer": _error(width, s) / 2}
        for s in range(10, upto + 1, 10)
    ]


def test_a_trial_stops_only_when_dominated_beyond_the_predictors_error(tmp_path: Path) -> None:
    config = _config(tmp_path, prediction_margin=0.02)
    front = [_record(0, 0.14, 1000.0, [])]
    stop = FrontStop(
        config, lambda: front, {"params": 1000.0}, lambda m: objective_values(m, config)
    )
    # Width 32 ends at 0.28: worse than 0.14 by far more than the margin, at the same size.
    assert stop(0, _curve(32, 20))
    assert stop.predictions[-1]["wer"] == pytest.approx(_error(32, 80), abs=1e-6)
    # Width 72 ends at 0.15: within the margin of the front, so it may still reach it.
    assert not stop(0, _curve(72, 20))
    # A smaller model is not dominated by a bigger one, however bad its predicted error.
    small = FrontStop(
        config, lambda: front, {"params": 10.0}, lambda m: objective_values(m, config)
    )
    assert not small(0, _curve(32, 20))


def test_the_margin_is_the_measured_error_once_enough_trials_have_one(tmp_path: Path) -> None:
    config = _config(tmp_path, prediction_margin=0.01, min_trials=2)
    one = [_record(0, 0.10, 1000.0, [{"rung": 0, "wer": 0.04, "cer": 0.05}])]
    stop = FrontStop(
        config, lambda: one, {"params": 1000.0}, lambda m: objective_values(m, config)
    )
    assert stop.margin(0, "wer") == 0.01  # one residual is too few: the floor
    two = [*one, _record(1, 0.20, 2000.0, [{"rung": 0, "wer": 0.12, "cer": 0.10}])]
    stop = FrontStop(
        config, lambda: two, {"params": 1000.0}, lambda m: objective_values(m, config)
    )
    assert stop.margin(0, "wer") == pytest.approx(math.sqrt((0.06**2 + 0.08**2) / 2))
    assert stop.margin(1, "wer") == 0.01  # no predictions at that rung


def test_a_search_stops_the_trials_whose_predicted_point_is_dominated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("speechnas.search.fidelity.train", _fake_train)
    config = _config(tmp_path, prediction_margin=0.01)
    run_search(config, progress=False)
    records = [r for r in open_store(config, for_search=False).records() if r.cached_from is None]
    assert all(len(r.predictions) == 1 and r.predictions[0]["rung"] == 0 for r in records)
    complete = [r for r in records if r.state == "COMPLETE"]
    stopped = [r for r in records if r.state == "PRUNED"]
    assert complete and stopped, [(r.state, r.metrics.get("wer")) for r in records]
    for r in complete:  # the curve family is the extrapolator's: predictions hit the final
        assert r.predictions[0]["wer"] == pytest.approx(r.metrics["wer"], abs=0.01)
    for r in records:
        assert r.metrics["predicted_wer"] == r.predictions[-1]["wer"]
    for r in stopped:
        assert r.rung == 0 and "dominated" in r.reason
        p = r.predictions[0]
        point = (p["wer"] - p["wer_margin"], r.metrics["params"])
        before = [q for q in complete if q.number < r.number]
        assert any(dominates((q.metrics["wer"], q.metrics["params"]), point) for q in before), (
            r.reason
        )
