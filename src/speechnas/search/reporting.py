"""A search's report from its database and final stage (``speechnas report``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.trial import TrialState

from speechnas.search.config import SearchConfig
from speechnas.search.drivers import driver_for
from speechnas.search.report_page import ASR_SCORES, TTS_SCORES, Reference, write_search_report
from speechnas.search.report_tts import listening_section
from speechnas.search.runner import open_store, summarise

__all__ = ["write_report"]

log = logging.getLogger(__name__)


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
    if config.tts is None:
        latency = (
            f"Latency: measured on this CPU, {config.latency_seconds:g} s of audio, batch 1, "
            f"{_statistic(config)}."
        )
    else:
        latency = (
            "Latency: measured on this CPU, text to mel of the longest held-out sentence at "
            f"its recorded length, batch 1, {_statistic(config)}. Scores: "
            f"{config.tts.held_out} held-out sentences of {config.tts.corpus}, synthesised "
            "from their text alone; intelligibility heard by PocketSphinx through Griffin-Lim."
        )
    facts = [
        f"Strategy {config.strategy}, seed {config.seed}. {summary.describe(config.n_trials)}",
        driver_for(config.strategy).describe(config),
        latency,
    ]
    importance = _decision_importance(store.study, config.objectives[0])
    out = out_dir or config.run_dir / "report"
    return write_search_report(
        out,
        title=f"speechnas search: {config.name}",
        records=records,
        objectives=config.objectives,
        n_rungs=len(config.fidelity.rungs),
        front=summary.front,
        final=final,
        references=references,
        notes=[*facts, *notes],
        importance=importance,
        run_dir=config.run_dir,
        scores=ASR_SCORES if config.tts is None else TTS_SCORES,
        sections=listening_section(config, summary.front, out),
    )


def _decision_importance(study: optuna.Study, objective: str) -> dict[str, float] | None:
    """fANOVA importance of the space's decisions for the first objective, over the complete
    trials (seeded: the same study gives the same figure); ``None`` with too few of them."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or len({json.dumps(t.params, sort_keys=True) for t in complete}) < 2:
        return None
    try:
        importance = optuna.importance.get_param_importances(
            study,
            evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=lambda t: t.values[0],
        )
    except (ValueError, RuntimeError) as e:  # e.g. no decision varies among them
        log.info("no decision importance for %s: %s", objective, e)
        return None
    return {name: float(value) for name, value in importance.items()}


def _statistic(config: SearchConfig) -> str:
    """How each latency was taken, in words."""
    if config.latency_blocks == 1:
        return f"median of {config.latency_repeats} calls"
    return f"lowest of {config.latency_blocks} block medians of {config.latency_repeats} calls"
