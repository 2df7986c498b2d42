"""A search's report from its database and final stage (``speechnas report``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from speechnas.search.config import SearchConfig
from speechnas.search.report_page import Reference, write_search_report
from speechnas.search.runner import open_store, summarise

__all__ = ["write_report"]


def _estimator(config: SearchConfig) -> str:
    """How the trials were scored, in a sentence."""
    ladder = (
        f"Fidelity ladder (data fraction x epochs): {config.fidelity.signature}; pruner "
        f"{config.fidelity.pruner}, reduction factor {config.fidelity.reduction_factor}."
    )
    if config.strategy == "supernet":
        from speechnas.search.supernet_strategy import split_by_depth

        where = (
            "weight-sharing supernets, one per depth (supernet/depth<d>/supernet.pt"
            if split_by_depth(config)
            else "a weight-sharing supernet (supernet/supernet.pt"
        )
        return (
            f"Estimator: {where} in the run folder); each trial is a subnet scored on its "
            "inherited weights, without training of its own. The final stage retrains the "
            "best from scratch."
        )
    if config.strategy == "darts":
        targets = config.strategy_options.get("targets_ms")
        return (
            f"Proposals: one DARTS run per latency target ({targets or 'none'} ms; "
            "darts/<target>/darts.json in the run folder), each extracting the best "
            f"architecture within its target; each is trained as a trial. {ladder}"
        )
    return ladder


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
        _estimator(config),
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
