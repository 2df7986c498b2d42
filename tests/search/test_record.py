"""The trial record: one definition of what a trial stores, and its metrics in plain SQL."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

from speechnas.search.config import SearchConfig, search_config_from_dict
from speechnas.search.record import (
    SCHEMA_VERSION,
    TrialAttrs,
    new_attrs,
    read_attrs,
    write_attrs,
)
from speechnas.search.report_page import write_search_report
from speechnas.search.reporting import _decision_importance, write_report
from speechnas.search.runner import open_store, run_search
from speechnas.search.sql_table import METRICS_TABLE, TRIALS_VIEW
from speechnas.search.store import TrialRecord
from speechnas.testing.search import tiny_search


def test_an_unknown_attribute_is_refused_where_it_is_written() -> None:
    stored: dict[str, object] = {}
    with pytest.raises(TypeError, match=r"\['wer_dev'\]"):
        write_attrs(stored.__setitem__, wer_dev=0.5)
    assert stored == {}
    with pytest.raises(TypeError, match="unknown trial attribute"):
        new_attrs(rungs=2)


def test_attributes_round_trip_with_their_schema_version() -> None:
    stored: dict[str, object] = {}
    write_attrs(stored.__setitem__, arch_id="abc", rung=1, metrics={"wer": 0.5}, reason=None)
    assert stored == {"arch_id": "abc", "rung": 1, "metrics": {"wer": 0.5}, "schema": 1}
    assert read_attrs(stored) == TrialAttrs(arch_id="abc", rung=1, metrics={"wer": 0.5})
    assert new_attrs(retry_of=3)["schema"] == SCHEMA_VERSION


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> SearchConfig:
    root = tmp_path_factory.mktemp("record")
    raw = tiny_search(root, n_trials=3)
    raw["fidelity"]["pruner"] = "none"  # every trial completes: the report has them all
    config = search_config_from_dict(raw)
    run_search(config, progress=False)
    return config


def test_every_stored_attribute_is_a_field_of_the_record(searched: SearchConfig) -> None:
    fields = {f.name for f in dataclasses.fields(TrialAttrs)} | {"schema"}
    study = optuna.load_study(study_name="tiny", storage=searched.storage_url)
    for trial in study.trials:
        assert set(trial.user_attrs) <= fields
        assert trial.user_attrs["schema"] == SCHEMA_VERSION


def test_finished_trials_are_queryable_in_plain_sql(searched: SearchConfig) -> None:
    records = open_store(searched, for_search=False).records()
    finished = {r.number: r for r in records if r.finished}
    path = searched.storage_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            f"SELECT trial_number, state, arch_id, wer, latency_ms, params FROM {TRIALS_VIEW} "
            "WHERE study_name = 'tiny' ORDER BY trial_number"
        ).fetchall()
    assert [r[0] for r in rows] == sorted(finished)
    for number, state, arch_id, wer, latency_ms, params in rows:
        record = finished[number]
        assert (state, arch_id) == (record.state, record.arch_id)
        assert latency_ms == pytest.approx(record.metrics["latency_ms"])
        assert params == pytest.approx(record.metrics["params"])
        assert wer == (pytest.approx(record.metrics["wer"]) if "wer" in record.metrics else None)


def test_a_database_without_the_table_gets_it_with_every_finished_trial(
    searched: SearchConfig, tmp_path: Path
) -> None:
    old = tmp_path / "old.db"
    path = searched.storage_url.removeprefix("sqlite:///")
    old.write_bytes(Path(path).read_bytes())
    engine = sa.create_engine(f"sqlite:///{old}")
    with engine.begin() as c:
        c.execute(sa.text(f"DROP VIEW {TRIALS_VIEW}"))
        c.execute(sa.text(f"DROP TABLE {METRICS_TABLE}"))
    moved = dataclasses.replace(searched, storage=f"sqlite:///{old}")
    open_store(moved).close()
    with engine.connect() as c:
        count = c.execute(sa.text(f"SELECT COUNT(*) FROM {TRIALS_VIEW}")).scalar()
    finished = [r for r in open_store(moved, for_search=False).records() if r.finished]
    assert count == len(finished) == 3


def test_the_report_shows_the_front_over_time_and_diversity(
    searched: SearchConfig, tmp_path: Path
) -> None:
    page = write_report(searched, tmp_path / "report").read_text()
    for image in ("front_history.png", "diversity.png"):
        assert (tmp_path / "report" / image).stat().st_size > 0
        assert f'src="{image}"' in page
    # the tiny models all score the same WER: nothing to apportion
    assert "No decision importance" in page or 'src="decision_importance.png"' in page


def test_decision_importance_finds_the_decision_the_objective_depends_on(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    widths = optuna.distributions.IntDistribution(0, 3)
    kinds = optuna.distributions.CategoricalDistribution(("cnn", "lstm"))
    for i in range(16):
        width, kind = i % 4, ("cnn", "lstm")[i // 4 % 2]
        study.add_trial(
            optuna.trial.create_trial(
                params={"width": width, "kind": kind},
                distributions={"width": widths, "kind": kinds},
                values=[1.0 - 0.2 * width, 10.0],
            )
        )
    importance = _decision_importance(study, "wer")
    assert importance is not None and importance["width"] > 0.9 > importance["kind"]
    write_search_report(
        tmp_path,
        title="t",
        records=[],
        objectives=("wer", "latency_ms"),
        n_rungs=1,
        front=[],
        importance=importance,
    )
    assert (tmp_path / "decision_importance.png").stat().st_size > 0
    flat = optuna.create_study(directions=["minimize"])
    assert _decision_importance(flat, "wer") is None


def _record(n: int, metrics: dict[str, float]) -> TrialRecord:
    return TrialRecord(n, "COMPLETE", None, str(n), metrics, metrics, 0, "", 1.0, None, [])


def test_the_report_labels_estimated_energy_and_draws_the_monitored_drift(
    tmp_path: Path,
) -> None:
    records = [
        _record(0, {"wer": 0.4, "energy_j": 0.002, "energy_measured": 0.0, "latency_ms": 9.0}),
        _record(1, {"wer": 0.3, "energy_j": 0.005, "energy_measured": 0.0, "latency_ms": 20.0}),
        _record(2, {"wer": 0.5, "energy_j": 0.009, "energy_measured": 0.0, "latency_ms": 30.0}),
    ]
    run = tmp_path / "moved-run"  # the run as it is now; final.json holds its old paths
    checked, unchecked = run / "final" / "aaa" / "export", run / "final" / "bbb" / "export"
    checked.mkdir(parents=True)
    unchecked.mkdir(parents=True)
    figure = {"variant": "onnx-int8", "what": "latency", "recorded_ms": 5.0, "band_ms": 0.5}
    runs = [
        {
            "time": "t1",
            "cpu": "cpu",
            "threads": 1,
            "figures": [figure | {"measured_ms": 5.1, "status": "ok"}],
        },
        {
            "time": "t2",
            "cpu": "cpu",
            "threads": 1,
            "figures": [figure | {"measured_ms": 9.0, "status": "slower"}],
        },
    ]
    (checked / "monitor.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    final = [
        {"trial": 1, "export": {"dir": "runs/old-name/final/aaa/export"}},
        {"trial": 0, "export": {"dir": "runs/old-name/final/bbb/export"}},
    ]
    out = run / "report"
    page = write_search_report(
        out,
        title="t",
        records=records,
        objectives=("wer", "energy_j"),
        n_rungs=1,
        front=records[:2],
        final=[
            f | {"summary": "s", "params": 1, "latency_ms": 1.0, "epochs": 1, "scores": {}}
            for f in final
        ],
    ).read_text()
    assert (out / "pareto_wer_energy.png").stat().st_size > 1000
    energy = page.split("<h2>Energy per utterance</h2>")[1].split("<h2>")[0]
    assert energy.count("estimated (MACs and memory traffic)") == 2  # the front's two
    assert "<td>2.00</td>" in energy and "<td>5.00</td>" in energy  # millijoules
    drift = page.split("<h2>Latency drift after deployment</h2>")[1].split("<h2>")[0]
    assert (out / "drift_0.png").stat().st_size > 1000
    assert "2 check(s), the latest t2" in drift and "DRIFTED (slower)" in drift
    assert "Not checked yet: trial 0" in drift
    assert not (out / "drift_1.png").exists()


def test_a_report_without_energy_or_exports_has_neither_section(tmp_path: Path) -> None:
    page = write_search_report(
        tmp_path,
        title="t",
        records=[_record(0, {"wer": 0.4, "latency_ms": 9.0})],
        objectives=("wer", "latency_ms"),
        n_rungs=1,
        front=[],
        final=[
            {"trial": 0, "summary": "s", "params": 1, "latency_ms": 1.0, "epochs": 1, "scores": {}}
        ],
    ).read_text()
    assert "Energy per utterance" not in page and "Latency drift" not in page
