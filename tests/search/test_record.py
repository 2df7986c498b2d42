"""The trial record: one definition of what a trial stores, and its metrics in plain SQL."""

from __future__ import annotations

import dataclasses
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
