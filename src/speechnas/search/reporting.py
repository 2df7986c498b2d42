"""A search's report from its database and final stage (``speechnas report``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from speechnas.search.config import SearchConfig
from speechnas.search.drivers import driver_for
from speechnas.search.report_page import Reference, write_search_report
from speechnas.search.runner import open_store, summarise

__all__ = ["write_report"]


def write_report(
    config: SearchConfig,
    out_dir: Path | None = None,
    *,
    references: Sequence[Reference] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Write the report of ``config``'s run into ``out_dir`` (default ``<run>/report``)."""
    store = open_store(config, for_search=False)
    records = store.records()
    summary = summarise(records, config.objectives)
    final_path = config.run_dir / "final.json"
    final = json.loads(final_path.read_text())["models"] if final_path.exists() else None
    facts = [
        f"Strategy {config.strategy}, seed {config.seed}. {summary.describe(config.n_trials)}",
        driver_for(config.strategy).describe(config),
        f"Latency: measured on this CPU, {config.latency_seconds:g} s of audio, batch 1, "
        f"median of {config.latency_repeats}.",
    ]
    return write_search_report(
        out_dir or config.run_dir / "report",
        title=f"speechnas search: {config.name}",
        records=records,
        objectives=config.objectives,
        n_rungs=len(config.fidelity.rungs),
        front=summary.front,
        final=final,
        references=references,
        notes=[*facts, *notes],
    )
