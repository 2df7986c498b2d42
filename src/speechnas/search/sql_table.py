"""Results in plain SQL: every finished trial's metrics in a table of the results database.

Optuna keeps a trial's metrics as JSON (a user attribute). For the questions a user asks in
SQL, the store also writes each finished trial of a search as rows of ``speechnas_metrics``
(study, trial number, state, architecture id, metric, value), and the view
``speechnas_trials`` has one row per trial with a column per common metric
(:data:`COLUMNS`). On SQLite and PostgreSQL alike::

    SELECT trial_number, wer, latency_ms FROM speechnas_trials
    WHERE study_name = 'so762' AND state = 'COMPLETE' ORDER BY wer;

Rows are written when a trial finishes (its metrics are final then) and, for a database of
an older speechnas, for every finished trial the first time a search opens it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

__all__ = ["COLUMNS", "METRICS_TABLE", "TRIALS_VIEW", "create_tables", "numbers", "write_trial"]

METRICS_TABLE = "speechnas_metrics"
TRIALS_VIEW = "speechnas_trials"

#: The metrics that are columns of :data:`TRIALS_VIEW` (every metric is in the table).
COLUMNS = ("wer", "cer", "latency_ms", "rtf", "params", "macs", "memory_mb")

_META = sa.MetaData()
_METRICS = sa.Table(
    METRICS_TABLE,
    _META,
    sa.Column("study_name", sa.String(512), primary_key=True),
    sa.Column("trial_number", sa.Integer, primary_key=True),
    sa.Column("metric", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("arch_id", sa.String(128)),
    sa.Column("value", sa.Float),
)


def _view_sql() -> str:
    pivot = ",\n  ".join(
        f"MAX(CASE WHEN metric = '{name}' THEN value END) AS {name}" for name in COLUMNS
    )
    return (
        f"CREATE VIEW {TRIALS_VIEW} AS\nSELECT study_name, trial_number, state, arch_id,\n  "
        f"{pivot}\nFROM {METRICS_TABLE}\nGROUP BY study_name, trial_number, state, arch_id"
    )


def create_tables(engine: sa.Engine) -> None:
    """Create the table and the view where they are missing (call it under the study's
    lock: two processes must not both create them)."""
    _META.create_all(engine, checkfirst=True)
    if TRIALS_VIEW not in sa.inspect(engine).get_view_names():
        with engine.begin() as connection:
            connection.execute(sa.text(_view_sql()))


def numbers(engine: sa.Engine, study_name: str) -> set[int]:
    """The trial numbers of ``study_name`` that have rows."""
    query = sa.select(_METRICS.c.trial_number).where(_METRICS.c.study_name == study_name)
    with engine.connect() as connection:
        return {int(n) for n in connection.execute(query.distinct()).scalars()}


def write_trial(
    engine: sa.Engine,
    study_name: str,
    number: int,
    state: str,
    arch_id: str | None,
    metrics: Mapping[str, Any],
) -> None:
    """Replace the rows of one trial by its ``metrics`` (the numeric ones)."""
    rows = [
        {
            "study_name": study_name,
            "trial_number": number,
            "metric": name,
            "state": state,
            "arch_id": arch_id,
            "value": float(value),
        }
        for name, value in _numeric(metrics.items())
    ]
    keys = (_METRICS.c.study_name == study_name) & (_METRICS.c.trial_number == number)
    with engine.begin() as connection:
        connection.execute(_METRICS.delete().where(keys))
        if rows:
            connection.execute(_METRICS.insert(), rows)


def _numeric(items: Iterable[tuple[str, Any]]) -> Iterable[tuple[str, float]]:
    for name, value in items:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(float(value)):
                yield name, float(value)
