"""The supernet and DARTS strategies of ``speechnas search``: trials in the same study, the
same summary and report, resumable, with clear errors for spaces they cannot cover."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from speechnas.cli import main
from speechnas.errors import UserError
from speechnas.search.config import search_config_from_dict
from speechnas.search.final import run_final
from speechnas.search.reporting import write_report
from speechnas.search.runner import open_store, run_search
from speechnas.search.store import TrialRecord
from speechnas.search.supernet_strategy import split_by_depth
from speechnas.space import SpaceEncoding
from speechnas.testing.search import tiny_search

#: One Conformer macro architecture with elastic layers (tiny_search's space, one family).
SPACE = {
    "encoders": ["conformer"],
    "min_layers": 1,
    "max_layers": 3,
    "widths": [16, 32],
    "kernels": [3, 5],
    "heads": [2],
    "ffn_expansions": [1.0, 2.0],
}


def _config(tmp_path: Path, **changes: Any) -> Any:
    raw = tiny_search(tmp_path)
    raw["space"] = {**raw["space"], **SPACE}
    raw.update(changes)
    return search_config_from_dict(raw)


def _records(config: Any) -> list[TrialRecord]:
    return open_store(config, for_search=False).records()


def _supernet(tmp_path: Path, n_trials: int, **options: Any) -> Any:
    return _config(
        tmp_path,
        strategy="supernet",
        n_trials=n_trials,
        strategy_options={"train_steps": 4, "population": 3, "sample_size": 2, **options},
    )


def test_supernet_subnets_are_trials_of_the_study(tmp_path: Path) -> None:
    config = _supernet(tmp_path, 6, split_depth=False)
    summary = run_search(config, progress=False)
    assert (config.run_dir / "supernet" / "supernet.pt").is_file()
    assert not (config.run_dir / "supernet" / "depth1").exists()
    records = _records(config)
    assert summary.complete == 6 and len(records) == 6
    encoding = SpaceEncoding(config.space)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    assert len({r.arch_id for r in records}) == 6
    for r, t in zip(records, study.trials, strict=True):
        assert r.state == "COMPLETE" and r.spec is not None
        assert config.space.contains(r.spec)
        # The parameters decode to the subnet, as for any strategy's trial.
        assert encoding.decode({d.name: 0 for d in []} or _indices(encoding, t)).arch_id == (
            r.arch_id
        )
        assert t.user_attrs["estimator"] == "supernet"
        assert t.user_attrs["fidelity"].startswith("supernet:4steps@dev6")
        for key in ("wer", "cer", "latency_ms", "params", "macs", "memory_mb"):
            assert key in r.metrics, key
        assert t.values == [r.metrics["wer"], r.metrics["params"]]
    assert summary.front and summary.best is not None
    # The final stage retrains the best from scratch; the report covers the trials.
    final = run_final(summary.front, config)
    assert final and final[0]["arch_id"] == summary.front[0].arch_id or final
    report = write_report(config)
    assert "supernet" in report.read_text()


def _indices(encoding: SpaceEncoding, t: optuna.trial.FrozenTrial) -> dict[str, int]:
    from speechnas.search.strategies._base import params_to_indices

    return params_to_indices(encoding, t.params)


def test_a_resumed_supernet_search_continues_as_the_uninterrupted_one(tmp_path: Path) -> None:
    whole = _supernet(tmp_path / "a", 7)
    run_search(whole, progress=False)
    expected = [(r.arch_id, r.metrics["wer"], r.metrics["cer"]) for r in _records(whole)]

    part = _supernet(tmp_path / "b", 7)
    run_search(part, progress=False, max_new_trials=3)
    assert len(_records(part)) == 3
    run_search(part, progress=False)
    got = [(r.arch_id, r.metrics["wer"], r.metrics["cer"]) for r in _records(part)]
    assert got == expected


def test_by_default_one_supernet_per_depth_trains_on_a_share_of_the_budget(
    tmp_path: Path,
) -> None:
    config = _supernet(tmp_path, 5, train_steps=6, search="random")  # split_depth by default
    summary = run_search(config, progress=False)
    assert summary.complete == 5
    for depth in (1, 2, 3):
        saved = torch.load(
            config.run_dir / "supernet" / f"depth{depth}" / "supernet.pt", weights_only=True
        )
        assert saved["steps"] == 2 and saved["space"]["min_layers"] == depth
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    assert all(
        t.user_attrs["fidelity"].startswith("supernets-by-depth:2+2+2steps@dev")
        for t in study.trials
    )
    depths = {len(r.spec.kept_layers) for r in _records(config) if r.spec is not None}
    assert len(depths) >= 2
    assert "supernets, one per depth" in write_report(config).read_text()


def test_split_depth_with_batch_norm_recalibrates_every_depths_subnets(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        strategy="supernet",
        n_trials=4,
        space={**tiny_search(tmp_path)["space"], **SPACE, "norms": ["batchnorm"]},
        strategy_options={"train_steps": 3, "split_depth": True, "calibration_batches": 2},
    )
    summary = run_search(config, progress=False)
    assert summary.complete == 4
    assert all(r.state == "COMPLETE" for r in _records(config))


def test_supernet_constraints_prune_subnets_before_scoring(tmp_path: Path) -> None:
    config = _supernet(tmp_path, 3, search="random")
    config = _config(
        tmp_path,
        strategy="supernet",
        n_trials=3,
        strategy_options=dict(config.strategy_options),
        constraints={"max_params": 40_000},
    )
    summary = run_search(config, progress=False)
    records = _records(config)
    pruned = [r for r in records if r.state == "PRUNED"]
    assert summary.complete == 3
    assert pruned and all(r.reason.startswith("constraint: params") for r in pruned)
    assert all(r.metrics["params"] <= 40_000 for r in records if r.state == "COMPLETE")
    assert summary.constrained == len(pruned)


def test_a_space_a_supernet_cannot_cover_is_a_user_error(tmp_path: Path) -> None:
    raw = tiny_search(tmp_path, strategy="supernet", strategy_options={"train_steps": 2})
    with pytest.raises(UserError, match="space.encoders has 3 choices"):
        run_search(search_config_from_dict(raw), progress=False)
    path = tmp_path / "search.yaml"
    import yaml

    path.write_text(yaml.safe_dump({**raw, "name": "cli"}))
    assert main(["search", "--config", str(path), "--no-progress"]) == 2


def test_unknown_options_of_the_new_strategies_are_errors(tmp_path: Path) -> None:
    for strategy in ("supernet", "darts"):
        config = _config(tmp_path, strategy=strategy, strategy_options={"populaton": 3})
        with pytest.raises(UserError, match="unknown option"):
            run_search(config, progress=False)


def test_darts_proposals_are_trained_as_trials(tmp_path: Path) -> None:
    from speechnas.hardware import TorchCPUTarget
    from speechnas.hardware.tables import sample_specs
    from speechnas.testing.hardware import synthetic_table

    config = _config(tmp_path, strategy="darts", strategy_options={"train_steps": 3})
    specs = sample_specs(config.space, 8, seed=0)  # priced, not timed: whatever the load
    table = synthetic_table(specs, TorchCPUTarget(1).describe(), path=tmp_path / "lut.json")
    latencies = sorted(m["latency_ms"] for m in table.models)
    targets = [latencies[0] * 1.05, latencies[-1]]
    config = _config(
        tmp_path,
        strategy="darts",
        n_trials=5,
        hardware={"table": str(tmp_path / "lut.json"), "latency": "measured"},
        strategy_options={"train_steps": 3, "targets_ms": targets, "penalty": 0.5},
    )
    summary = run_search(config, progress=False)
    records = _records(config)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    # One trial per target (two if the targets extracted different architectures).
    assert 1 <= len(records) <= 2 and summary.finished == len(records)
    for r, t in zip(records, study.trials, strict=True):
        assert t.user_attrs["estimator"] == "darts"
        assert t.user_attrs["darts_target_ms"] in targets
        assert r.curve and "wer" in r.metrics  # trained up the ladder like any trial
        assert r.spec is not None and config.space.contains(r.spec)
    for target in targets:
        assert (config.run_dir / "darts" / f"{target:g}ms" / "darts.json").is_file()
    # Resumed, nothing is rerun or queued twice.
    again = run_search(config, progress=False)
    assert again.finished == summary.finished and len(_records(config)) == len(records)


def test_darts_targets_need_a_latency_table(tmp_path: Path) -> None:
    config = _config(tmp_path, strategy="darts", strategy_options={"targets_ms": [5.0]})
    with pytest.raises(UserError, match="needs hardware.table"):
        run_search(config, progress=False)


def test_darts_candidates_are_the_distinct_layers_of_one_width(tmp_path: Path) -> None:
    from speechnas.search.darts_strategy import darts_candidates

    config = _config(
        tmp_path,
        strategy="darts",
        space={**tiny_search(tmp_path)["space"], **SPACE, "blocks": ["full", "attention", "conv"]},
    )
    base, candidates = darts_candidates(config)
    assert len(candidates) == 3 and all(layer.width == 32 for layer in base.layers)
    # full: 2 kernels x 1 head x 2 FFN; attention: 2 FFN; conv: 2 kernels x 2 FFN.
    first = [c for c in candidates[0]]
    assert len(first) == 4 + 2 + 4 and not any(c.skip for c in first)  # min_layers = 1
    assert [c.skip for c in candidates[1]].count(True) == 1
    assert {c.block for c in first} == {"full", "attention", "conv"}
    assert len({repr(c) for c in first}) == len(first)


def test_a_supernet_search_over_per_layer_blocks_with_distillation(tmp_path: Path) -> None:
    blocks = ["full", "attention", "conv"]
    config = _config(
        tmp_path,
        strategy="supernet",
        n_trials=8,
        space={**tiny_search(tmp_path)["space"], **SPACE, "blocks": blocks},
        strategy_options={
            "train_steps": 2,
            "search": "random",
            "distill": 0.5,
            "split_depth": False,
        },
    )
    run_search(config, progress=False)
    saved = torch.load(config.run_dir / "supernet" / "supernet.pt", weights_only=True)
    assert "smallest_kd" in saved["history"][-1]
    records = _records(config)
    encoding = SpaceEncoding(config.space)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    assert len(records) == 8
    for r, t in zip(records, study.trials, strict=True):
        assert r.spec is not None and config.space.contains(r.spec)
        assert encoding.decode(_indices(encoding, t)).arch_id == r.arch_id
    used = {layer.block for r in records if r.spec for layer in r.spec.kept_layers}
    assert len(used) >= 2


def test_one_supernet_per_depth_is_the_default_where_there_are_several_depths(
    tmp_path: Path,
) -> None:
    assert split_by_depth(_supernet(tmp_path, 1))
    assert not split_by_depth(_supernet(tmp_path, 1, split_depth=False))
    one_depth = {**tiny_search(tmp_path)["space"], **SPACE, "min_layers": 2, "max_layers": 2}
    config = _config(tmp_path, strategy="supernet", n_trials=1, space=one_depth)
    assert not split_by_depth(config)
    assert split_by_depth(dataclasses.replace(config, strategy_options={"split_depth": True}))


def test_darts_trains_only_its_proposals_and_runs_once_per_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proposal whose training diverges is not replaced by other architectures, and a
    resumed search (from any run folder) reads the proposals from the study."""
    from speechnas.search import darts_strategy, evaluation
    from speechnas.train import TrainingDiverged

    def diverges(*args: Any, **kwargs: Any) -> Any:
        raise TrainingDiverged("loss is NaN")

    config = _config(tmp_path, strategy="darts", n_trials=3, strategy_options={"train_steps": 2})
    monkeypatch.setattr(evaluation, "train_ladder", diverges)
    summary = run_search(config, progress=False)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    (trial,) = study.trials  # one DARTS run, one proposal: nothing proposed in its place
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["estimator"] == "darts" and summary.budget == 1

    def no_darts(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("DARTS ran again")

    monkeypatch.setattr(darts_strategy, "darts_proposals", no_darts)
    elsewhere = dataclasses.replace(
        config, out_root=str(tmp_path / "elsewhere"), storage=config.storage_url
    )
    assert run_search(elsewhere, progress=False).budget == 1
    assert len(optuna.load_study(study_name="tiny", storage=config.storage_url).trials) == 1
