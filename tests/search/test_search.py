"""The search loop end to end on a tiny corpus: database contents, constraints, the cache,
pruning, the final stage, the report and the CLI."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from speechnas.cli import main
from speechnas.errors import ConfigError, ConfigMismatch, UserError
from speechnas.search.config import (
    Constraints,
    FidelityConfig,
    Rung,
    load_run_config,
    load_search_config,
    search_config_from_dict,
)
from speechnas.search.fidelity import make_pruner
from speechnas.search.final import final_candidates
from speechnas.search.objectives import scalarised
from speechnas.search.runner import open_store, run_search
from speechnas.search.select import select_for_target
from speechnas.search.store import TrialRecord
from speechnas.testing.search import tiny_search
from speechnas.train import TrainConfig, TrainResult


def _records(config: Any) -> list[TrialRecord]:
    return open_store(config, for_search=False).records()


def test_every_trial_is_recorded_with_spec_metrics_and_curve(tmp_path: Path) -> None:
    config = search_config_from_dict(tiny_search(tmp_path, n_trials=4))
    summary = run_search(config, progress=False)
    assert summary.finished == 4
    records = _records(config)
    assert len(records) == 4
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    for r, t in zip(records, study.trials, strict=True):
        assert r.spec is not None and r.spec.arch_id == r.arch_id
        assert config.space.contains(r.spec)
        assert t.user_attrs["fidelity"] == "0.5x2/1x3"
        if r.cached_from is not None:
            continue
        for key in ("wer", "cer", "latency_ms", "rtf", "params", "macs", "memory_mb"):
            assert key in r.metrics, key
        assert r.wall_seconds > 0
        assert [p["rung"] for p in r.curve][:2] == [0, 0]  # dev scored after each epoch
        if r.state == "COMPLETE":
            assert t.values == [r.metrics["wer"], r.metrics["params"]]
    assert Path(config.storage_url.removeprefix("sqlite:///")).is_file()


def test_hard_constraints_prune_before_training(tmp_path: Path) -> None:
    config = search_config_from_dict(
        tiny_search(tmp_path, n_trials=3, constraints={"max_params": 1000})
    )
    summary = run_search(config, progress=False)
    assert summary.constrained + summary.cached == 3
    for r in _records(config):
        assert r.state == "PRUNED" and r.rung == -1
        assert "wer" not in r.metrics
        if r.cached_from is None:
            assert r.reason.startswith("constraint: params")
    assert not (config.run_dir / "trials").exists()


@pytest.mark.parametrize("strategy", ["tpe", "nsga2", "gp"])
def test_constraint_pruned_trials_teach_the_samplers_where_the_infeasible_region_is(
    tmp_path: Path, strategy: str
) -> None:
    """Each trial carries its constraint values (``Trial.set_constraint``), which Optuna's
    samplers read: above 0 for a trial over a limit."""
    config = search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=3,
            strategy=strategy,
            strategy_options={},
            constraints={"max_params": 1000, "max_latency_ms": 1e6},
        )
    )
    run_search(config, progress=False)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    for t in study.trials:
        slack = t.constraints
        assert slack["params"] == pytest.approx(t.user_attrs["metrics"]["params"] / 1000 - 1)
        assert slack["params"] > 0 and slack["latency_ms"] < 0


def test_constraint_slack_reads_a_prediction_where_nothing_was_measured() -> None:
    c = Constraints(max_latency_ms=50, max_memory_mb=10)
    assert c.slack({"latency_ms": 25.0, "memory_mb": 20.0}) == {
        "latency_ms": -0.5,
        "memory_mb": 1.0,
    }
    assert c.slack({"predicted_latency_ms": 100.0}) == {"latency_ms": 1.0, "memory_mb": 0.0}
    assert Constraints().slack({"params": 5.0}) == {}


def test_an_architecture_is_not_trained_twice(tmp_path: Path) -> None:
    one = {**tiny_search(tmp_path)["space"], "encoders": ["lstm"], "widths": [16]}
    one["max_layers"] = 1
    config = search_config_from_dict(
        tiny_search(tmp_path, n_trials=3, space=one, strategy="random", strategy_options={})
    )
    assert config.space.count() == 1
    summary = run_search(config, progress=False)
    records = _records(config)
    assert [r.cached_from for r in records] == [None, 0, 0]
    assert records[1].metrics == records[0].metrics
    # The front lists each architecture once (the final stage retrains it once).
    assert [r.number for r in summary.front] == [0]
    assert sorted(p.name for p in (config.run_dir / "trials").iterdir()) == ["0000"]


def test_successive_halving_over_the_ladder_stops_the_worse_half() -> None:
    fidelity = FidelityConfig(
        rungs=(Rung(0.1, 1), Rung(0.3, 1), Rung(1.0, 1)), reduction_factor=2, min_trials=4
    )
    study = optuna.create_study(pruner=make_pruner(fidelity))
    decisions = {}
    for wer in (0.5, 0.4, 0.9, 0.3, 0.8, 0.2):
        trial = study.ask()
        trial.report(wer, step=1)  # rung 0
        decisions[wer] = trial.should_prune()
        if decisions[wer]:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, wer)
    # Fewer than min_trials at the rung: nobody is stopped; then only the worse half is.
    assert decisions == {0.5: False, 0.4: False, 0.9: False, 0.3: False, 0.8: True, 0.2: False}


@pytest.mark.parametrize("pruner", ["successive_halving", "median"])
def test_a_failed_twin_is_no_competitor_at_a_rung(pruner: str) -> None:
    """A twin failed mid-ladder (its trial interrupted, then retried) keeps what it reported;
    the pruner decides as if it had never run, as in the uninterrupted search."""
    fidelity = FidelityConfig(
        rungs=(Rung(0.5, 1), Rung(1.0, 1)), reduction_factor=2, min_trials=2, pruner=pruner
    )

    def decide(values: tuple[float, ...], failed: float | None) -> list[bool]:
        study = optuna.create_study(pruner=make_pruner(fidelity))
        decisions = []
        for wer in values:
            trial = study.ask()
            trial.report(wer, step=1)
            decisions.append(trial.should_prune())
            if decisions[-1]:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, wer)
            if failed is not None and len(decisions) == 1:  # a twin that then failed
                twin = study.ask()
                twin.report(failed, step=1)
                twin.should_prune()
                study.tell(twin, state=optuna.trial.TrialState.FAIL)
        return decisions

    values = (0.5, 0.3, 0.4)
    assert decide(values, failed=0.1) == decide(values, failed=None)


def _fake_train(config: TrainConfig, **_: Any) -> TrainResult:
    """Training whose dev WER is a known function of the architecture (wider, better)."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = sum(lay.width for lay in config.arch.kept_layers)
    wer = 1.0 / width
    with (out / "history.jsonl").open("w") as f:
        for epoch in range(1, config.max_epochs + 1):
            record = {
                "epoch": epoch,
                "train_seconds": 0.1 * epoch,
                "dev_wer": wer,
                "dev_cer": wer / 2,
            }
            f.write(json.dumps(record) + "\n")
    (out / "best.pt").write_bytes(b"")
    return TrainResult(out, 1, config.max_epochs, 0.1 * config.max_epochs, 1, wer, None)


def test_pruned_trials_count_per_rung_and_keep_their_lower_fidelity_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("speechnas.search.fidelity.train", _fake_train)
    config = search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=8,
            strategy="random",
            strategy_options={},
            fidelity={
                "rungs": [{"fraction": 0.25, "epochs": 1}, {"fraction": 1.0, "epochs": 2}],
                "min_trials": 2,
                "reduction_factor": 2,
            },
        )
    )
    summary = run_search(config, progress=False)
    records = [r for r in _records(config) if r.cached_from is None]
    stopped = [r for r in records if r.state == "PRUNED"]
    assert stopped, "successive halving stopped nothing"
    assert summary.stopped_at_rung == {0: len(stopped)}
    for r in stopped:
        assert r.reason == "stopped at rung 0" and "wer" in r.metrics
        assert {p["rung"] for p in r.curve} == {0}
        # Stopped only when worse than the best half of the trials before it at rung 0.
        earlier = sorted(q.metrics["wer"] for q in records if q.number < r.number)
        assert r.metrics["wer"] > earlier[(len(earlier) + 1) // 2 - 1]
    complete = [r for r in records if r.state == "COMPLETE"]
    assert complete and all({p["rung"] for p in r.curve} == {0, 1} for r in complete)


def test_a_rung_budget_in_steps_reaches_training_and_names_the_ladder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[TrainConfig] = []

    def fake(config: TrainConfig, **kw: Any) -> TrainResult:
        seen.append(config)
        return _fake_train(replace(config, max_epochs=2), **kw)

    monkeypatch.setattr("speechnas.search.fidelity.train", fake)
    config = search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=1,
            fidelity={"rungs": [{"fraction": 0.5, "steps": 7}, {"fraction": 1.0, "steps": 21}]},
        )
    )
    run_search(config, progress=False)
    assert [(c.max_steps, c.max_minutes) for c in seen] == [(7, None), (21, None)]
    assert all(c.max_epochs > 1000 for c in seen)  # the steps are the budget
    assert config.fidelity.signature == "0.5<7steps/1<21steps"
    with pytest.raises(ConfigError, match=r"rungs\[0\]: a rung needs a budget"):
        search_config_from_dict(tiny_search(tmp_path, fidelity={"rungs": [{"fraction": 1.0}]}))


def test_final_stage_report_and_results_cli(
    tiny_search_yaml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = yaml.safe_load(tiny_search_yaml.read_text())
    config["final"]["export"] = ["fp32", "int8"]
    tiny_search_yaml.write_text(yaml.safe_dump(config))
    assert main(["search", "--config", str(tiny_search_yaml), "--no-progress"]) == 0
    run = tiny_search_yaml.parent / "runs" / "tiny"
    final = json.loads((run / "final.json").read_text())
    (model,) = final["models"]
    assert set(model["scores"]) == {"dev", "test"}
    variants = {v["name"]: v for v in model["export"]["variants"]}
    assert list(variants) == ["pytorch", "onnx-fp32", "onnx-int8"]
    assert variants["onnx-fp32"]["scores"]["test"]["wer"] == model["scores"]["test"]["wer"]
    assert variants["onnx-int8"]["size_mb"] < variants["onnx-fp32"]["size_mb"]
    assert (run / "best.pt").is_file()
    report = run / "report"
    for png in ("pareto_wer_latency", "pareto_wer_params", "best_so_far", "rung_cost"):
        assert (report / f"{png}.png").stat().st_size > 1000
    page = (report / "index.html").read_text()
    assert "Pareto front" in page and model["arch_id"] in page
    assert "Deployable exports" in page and "onnx-int8" in page
    capsys.readouterr()
    assert main(["results", "--run", str(run), "--front"]) == 0
    assert "tiny: 6 trials" in capsys.readouterr().out
    assert main(["results", "--run", str(run), "--max-params", "1e9"]) == 0
    assert '"encoder"' in capsys.readouterr().out
    assert main(["results", "--run", str(run), "--max-params", "10"]) == 1
    assert main(["report", "--run", str(run), "--out", str(run / "r2")]) == 0
    assert (run / "r2" / "index.html").is_file()


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    base = tiny_search(tmp_path)
    with pytest.raises(ConfigError, match="fidelty"):
        search_config_from_dict({**base, "fidelty": {}})
    with pytest.raises(ConfigError, match="objectives"):
        search_config_from_dict({**base, "objectives": ["bleu"]})
    with pytest.raises(ConfigError, match=r"final.*int4"):
        search_config_from_dict({**base, "final": {"export": ["int4"]}})
    with pytest.raises(ConfigError, match=r"fidelity\.rungs\[0\]"):
        search_config_from_dict({**base, "fidelity": {"rungs": [{"fraction": 2, "epochs": 1}]}})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**base, "strategy": "annealing"}))
    assert main(["search", "--config", str(path), "--no-progress"]) == 2
    assert (
        main(
            [
                "search",
                "--config",
                str(path),
                "--set",
                "strategy=random",
                "--set",
                "fidelity.pruner=bogus",
                "--no-progress",
            ]
        )
        == 2
    )


def test_resuming_with_another_config_is_refused(tmp_path: Path) -> None:
    config = search_config_from_dict(tiny_search(tmp_path, n_trials=1))
    run_search(config, progress=False)
    grown = search_config_from_dict(tiny_search(tmp_path, n_trials=2))
    run_search(grown, progress=False)  # a bigger budget is fine
    changed = search_config_from_dict(tiny_search(tmp_path, n_trials=2, seed=5))
    with pytest.raises(ConfigMismatch, match=r"\['seed'\]") as refused:
        run_search(changed, progress=False)
    assert refused.value.changed == ["seed"]
    # The run's own config stays the one its study was started with.
    assert load_run_config(grown.run_dir) == grown


def test_scalarised_latency_penalty_and_select_for_target() -> None:
    assert scalarised(0.2, 150.0, 100.0, 2.0) == pytest.approx(0.3)
    assert scalarised(0.2, 50.0, 100.0, 2.0) == pytest.approx(0.3)

    def rec(n: int, wer: float, lat: float, params: float, state: str = "COMPLETE") -> Any:
        metrics = {"wer": wer, "latency_ms": lat, "params": params}
        return TrialRecord(n, state, None, str(n), {}, metrics, 0, "", 1.0, None, [])

    records = [
        rec(0, 0.3, 10, 1e5),
        rec(1, 0.2, 50, 1e6),
        rec(2, 0.1, 90, 5e6),
        rec(3, 0.05, 20, 1e5, state="PRUNED"),
    ]
    assert select_for_target(records).number == 2
    assert select_for_target(records, max_latency_ms=60).number == 1
    assert select_for_target(records, max_latency_ms=60, max_params=5e5).number == 0
    assert select_for_target(records, max_latency_ms=5) is None


def test_the_final_stage_breaks_a_tie_on_the_front_by_the_first_objective() -> None:
    def rec(n: int, wer: float, lat: float) -> TrialRecord:
        values = {"wer": wer, "latency_ms": lat}
        return TrialRecord(n, "COMPLETE", None, str(n), values, values, 0, "", 1.0, None, [])

    # Two front members always tie on the normalised mean (1 + 0 against 0 + 1).
    front = [rec(0, 0.88, 8.0), rec(2, 0.81, 12.0)]
    assert [r.number for r in final_candidates(front, ("wer", "latency_ms"), 1)] == [2]
    assert [r.number for r in final_candidates(front, ("latency_ms", "wer"), 1)] == [0]
    balanced = [*front, rec(1, 0.84, 9.0)]  # the closest to both best values
    assert [r.number for r in final_candidates(balanced, ("wer", "latency_ms"), 2)] == [1, 2]


def test_constraints_name_what_is_over() -> None:
    c = Constraints(max_latency_ms=50, max_params=1e6)
    metrics = {"latency_ms": 80.0, "params": 2e6, "memory_mb": 1.0, "macs": 1.0}
    assert c.violations(metrics) == ["latency_ms 80 > 50", "params 2e+06 > 1e+06"]


def test_results_in_postgresql(tmp_path: Path, postgres_url: str) -> None:
    config = search_config_from_dict(tiny_search(tmp_path, n_trials=3, storage=postgres_url))
    summary = run_search(config, progress=False)
    assert summary.finished == 3
    assert not (config.run_dir / "study.db").exists()
    records = _records(config)
    assert len(records) == 3 and all(r.spec is not None for r in records)
    # Resuming against the same server continues the same study.
    more = search_config_from_dict(tiny_search(tmp_path, n_trials=4, storage=postgres_url))
    assert run_search(more, progress=False).finished == 4
    assert main(["results", "--run", str(config.run_dir), "--storage", postgres_url]) == 0


def test_the_recipe_config_loads_and_warm_start_names_presets(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    config = load_search_config(repo / "recipes" / "speechocean762" / "search.yaml")
    assert config.space.count() > 10**6
    assert config.fidelity.metric == "cer" and len(config.fidelity.rungs) == 3
    base = tiny_search(tmp_path)
    with pytest.raises(ConfigError, match="conformer-ctc-xxl"):
        search_config_from_dict({**base, "warm_start": ["conformer-ctc-xxl"]})


def test_a_failing_architecture_is_recorded_and_the_search_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import speechnas.search.evaluation as evaluation

    real = evaluation.train_ladder
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("shape mismatch in layer 3")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "train_ladder", flaky)
    config = search_config_from_dict(tiny_search(tmp_path, n_trials=3))
    summary = run_search(config, progress=False)
    assert summary.finished == 3 and summary.failed == 1
    (failed,) = [r for r in _records(config) if r.state == "FAIL"]
    assert failed.reason == "error: RuntimeError: shape mismatch in layer 3"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("always")

    monkeypatch.setattr(evaluation, "train_ladder", broken)
    more = search_config_from_dict(tiny_search(tmp_path, n_trials=10))
    with pytest.raises(RuntimeError, match="5 trials in a row failed"):
        run_search(more, progress=False)
    records = _records(more)
    # The three finished trials are kept; new ones finished only by reusing them (cache).
    assert all(r.cached_from is not None for r in records[4:] if r.state != "FAIL")
    assert sum(r.state == "FAIL" for r in records[4:]) == 5


def test_results_of_a_search_that_never_ran_is_a_clear_error(tmp_path: Path) -> None:
    config = tiny_search(tmp_path)
    path = tmp_path / "never.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["results", "--config", str(path)]) == 2
    assert main(["report", "--config", str(path)]) == 2


def test_transfer_starts_from_the_warm_start_presets(tmp_path: Path) -> None:
    from speechnas.presets import PRESETS
    from speechnas.space import SpaceEncoding

    config = search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=2,
            strategy="transfer",
            strategy_options={},
            warm_start=["blstm-ctc", "conformer-ctc-xs"],
        )
    )
    run_search(config, progress=False)
    encoding = SpaceEncoding(config.space)
    expected = [encoding.project(PRESETS[n]).arch_id for n in config.warm_start]
    assert [r.arch_id for r in _records(config)] == expected


def test_predicted_latency_prunes_before_anything_is_built(tmp_path: Path) -> None:
    """isSafe: a spec predicted over the latency budget is pruned with its prediction and
    never trained; every other finished trial's measured latency is within the budget or
    the trial is pruned on it, saying so."""
    from speechnas.hardware import TorchCPUTarget
    from speechnas.hardware.tables import sample_specs
    from speechnas.testing.hardware import synthetic_table

    raw = tiny_search(tmp_path, n_trials=8, strategy="random", strategy_options={})
    space = search_config_from_dict(raw).space
    # Priced, not timed: what is tested is the pruning, whatever the machine's load.
    specs = sample_specs(space, 12, seed=5)
    table = synthetic_table(specs, TorchCPUTarget(1).describe(), path=tmp_path / "lut.json")
    budget = sorted(m["latency_ms"] for m in table.models)[3]  # most of the space is over
    config = search_config_from_dict(
        {
            **raw,
            "hardware": {"table": str(tmp_path / "lut.json")},
            "constraints": {"max_latency_ms": budget},
        }
    )
    summary = run_search(config, progress=False)
    records = _records(config)
    predicted_out = [
        r for r in records if r.reason.startswith("predicted:") and r.cached_from is None
    ]
    assert predicted_out and summary.predicted_over == len(predicted_out)
    trained = (
        {p.name for p in (config.run_dir / "trials").iterdir()}
        if any(r.rung >= 0 for r in records)
        else set()
    )
    for r in records:
        if r.cached_from is not None or not r.finished:
            continue
        assert r.metrics["predicted_latency_ms"] > 0
        if r in predicted_out:
            assert r.state == "PRUNED" and r.rung == -1
            assert r.metrics["predicted_latency_ms"] > budget
            assert "latency_ms" not in r.metrics and f"{r.number:04d}" not in trained
        else:
            assert r.metrics["predicted_latency_ms"] <= budget
            within = r.metrics["latency_ms"] <= budget
            assert within or r.reason.startswith("constraint: latency_ms"), r
    assert "on predicted latency" in summary.describe(config.n_trials)


def _memory_table(path: Path, specs: list[Any], audio_s: float) -> Path:
    """A memory table whose records follow ``1.3 * analytic + 1 MB`` (with a seeded 2%
    scatter), so the fitted predictions are known to the test."""
    import numpy as np

    from speechnas.hardware.measure import untrained_model
    from speechnas.hardware.memory import MemoryModel, MemoryRecord, analytic_memory_bytes

    memory = MemoryModel(audio_s, 1)
    rng = np.random.default_rng(0)
    for spec in specs:
        weights, activations = (
            b / 1e6 for b in analytic_memory_bytes(untrained_model(spec), audio_s)
        )
        measured = (1.0 + 1.3 * (weights + activations)) * (1 + 0.02 * rng.standard_normal())
        memory.add(
            MemoryRecord(spec, audio_s, 1, 300.0, 300.0 + measured - weights, weights, activations)
        )
    return memory.save(path)


def test_predicted_memory_prunes_before_anything_is_built(tmp_path: Path) -> None:
    """With a memory table, ``memory_mb`` is the fitted prediction, and a spec predicted over
    ``max_memory_mb`` is pruned with its prediction, never built for measuring or trained."""
    from speechnas.hardware.memory import MemoryModel
    from speechnas.hardware.tables import sample_specs

    raw = tiny_search(tmp_path, n_trials=8, strategy="random", strategy_options={})
    space = search_config_from_dict(raw).space
    specs = sample_specs(space, 12, seed=5)
    path = _memory_table(tmp_path / "memory.json", specs, audio_s=1.0)
    predicted = sorted(MemoryModel.load(path).predict(s).memory_mb for s in specs)
    budget = predicted[len(predicted) // 3]  # most of the space is over
    config = search_config_from_dict(
        {**raw, "hardware": {"memory_table": str(path)}, "constraints": {"max_memory_mb": budget}}
    )
    summary = run_search(config, progress=False)
    records = [r for r in _records(config) if r.cached_from is None and r.finished]
    over = [r for r in records if r.reason.startswith("predicted: memory_mb")]
    assert over and summary.predicted_over == len(over)
    trained = {p.name for p in (config.run_dir / "trials").glob("*")}
    for r in records:
        assert r.metrics["predicted_memory_low_mb"] <= r.metrics["predicted_memory_mb"]
        assert r.metrics["predicted_memory_mb"] <= r.metrics["predicted_memory_high_mb"]
        assert "predicted_latency_ms" not in r.metrics  # no latency table was given
        if r in over:
            assert r.state == "PRUNED" and r.rung == -1
            assert r.metrics["predicted_memory_mb"] > budget
            assert "memory_mb" not in r.metrics and f"{r.number:04d}" not in trained
        else:
            assert r.metrics["predicted_memory_mb"] <= budget
            assert r.metrics["memory_mb"] == r.metrics["predicted_memory_mb"]
            assert r.metrics["analytic_memory_mb"] > 0
    assert "on predicted latency or memory" in summary.describe(config.n_trials)


def test_a_latency_table_of_another_target_is_refused_for_measured_latency(
    tmp_path: Path,
) -> None:
    from speechnas.hardware import TorchCPUTarget
    from speechnas.hardware.lut import LatencyTable

    raw = tiny_search(tmp_path, n_trials=2)  # measures latency with train.threads = 1
    table = LatencyTable(TorchCPUTarget(2).describe(), audio_s=1.0)
    table.save(tmp_path / "lut2.json")
    config = search_config_from_dict({**raw, "hardware": {"table": str(tmp_path / "lut2.json")}})
    with pytest.raises(UserError, match=r"lut2.json.*2 thread.*latency: predicted"):
        run_search(config, progress=False)


def test_a_predicted_latency_table_must_be_of_the_claimed_target_and_threads(
    tmp_path: Path,
) -> None:
    from speechnas.hardware import TorchCPUTarget
    from speechnas.hardware.lut import LatencyTable

    raw = tiny_search(tmp_path, n_trials=2)
    LatencyTable(TorchCPUTarget(2).describe(), audio_s=1.0).save(tmp_path / "lut2.json")
    hardware = {"table": str(tmp_path / "lut2.json"), "latency": "predicted"}
    for name, claim, named in (
        ("threads", {"threads": 4}, "hardware.threads: 4"),
        ("target", {"target": "cpu-onnx"}, "hardware.target: cpu-onnx"),
    ):
        config = search_config_from_dict({**raw, "name": name, "hardware": {**hardware, **claim}})
        with pytest.raises(
            UserError, match=rf"lut2.json was profiled on cpu-torch with 2 .*{named}"
        ):
            run_search(config, progress=False)


def test_a_memory_table_is_checked_before_the_search_starts(tmp_path: Path) -> None:
    from speechnas.hardware.tables import sample_specs

    raw = tiny_search(tmp_path, n_trials=2)
    with pytest.raises(ConfigError, match="memory_tabel"):
        search_config_from_dict({**raw, "hardware": {"memory_tabel": "m.json"}})
    with pytest.raises(ConfigError, match="memory_table"):
        search_config_from_dict({**raw, "hardware": {}})
    with pytest.raises(ConfigError, match="predicted needs a latency table"):
        search_config_from_dict({**raw, "hardware": {"memory_table": "m", "latency": "predicted"}})
    specs = sample_specs(search_config_from_dict(raw).space, 3, seed=0)
    few = _memory_table(tmp_path / "few.json", specs, audio_s=1.0)
    config = search_config_from_dict({**raw, "hardware": {"memory_table": str(few)}})
    with pytest.raises(UserError, match=r"hardware.memory_table .*few.json: 3 measured"):
        run_search(config, progress=False)
    other = _memory_table(tmp_path / "5s.json", specs, audio_s=5.0)
    hardware = {"memory_table": str(other)}
    config = search_config_from_dict({**raw, "name": "tiny-5s", "hardware": hardware})
    with pytest.raises(UserError, match="measured on 5 s of audio but latency_seconds is 1"):
        run_search(config, progress=False)


def test_the_same_seed_and_config_give_the_same_trials_with_measured_latency(
    tmp_path: Path,
) -> None:
    """Measured latency steers the sampler; read back from this machine's memo, a second run
    in a fresh place proposes and records exactly what the first did."""

    def run(out: str, **changes: Any) -> list[TrialRecord]:
        config = search_config_from_dict(
            tiny_search(
                tmp_path,
                out_root=str(tmp_path / out),
                n_trials=5,
                objectives=["wer", "latency_ms"],
                strategy="tpe",
                strategy_options={"n_startup_trials": 2},
                **changes,
            )
        )
        run_search(config, progress=False)
        return _records(config)

    first, second = run("one"), run("two")
    assert [r.arch_id for r in second] == [r.arch_id for r in first]
    for a, b in zip(first, second, strict=True):
        assert b.metrics == a.metrics  # latency included
        assert b.state == a.state
    memo = Path(os.environ["SPEECHNAS_CACHE_DIR"]) / "latency.sqlite"  # the test's own
    assert memo.is_file()

    before = memo.stat().st_mtime_ns
    fresh = run("three", reuse_latency=False)
    assert memo.stat().st_mtime_ns == before  # not written to
    assert fresh[0].arch_id == first[0].arch_id
    assert fresh[0].metrics["latency_ms"] != first[0].metrics["latency_ms"]  # timed again


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_study_from_before_latency_blocks_resumes_only_with_one_block(tmp_path: Path) -> None:
    """A study saved before ``latency_blocks`` existed timed one median per trial: resuming
    it with blocks would mix two ways of timing in one front."""
    raw = tiny_search(tmp_path, n_trials=1)
    config = search_config_from_dict(raw)
    run_search(config, progress=False)
    store = open_store(config, for_search=False)
    saved = dict(store.study.user_attrs["config"])
    assert saved["latency_blocks"] == 3
    del saved["latency_blocks"]
    store.study.set_user_attr("config", saved)
    with pytest.raises(ConfigMismatch, match="latency_blocks"):
        run_search(search_config_from_dict({**raw, "n_trials": 2}), progress=False)
    resumed = search_config_from_dict({**raw, "n_trials": 2, "latency_blocks": 1})
    assert run_search(resumed, progress=False).finished == 2
