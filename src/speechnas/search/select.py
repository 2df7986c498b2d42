"""Choosing a searched architecture for a device budget."""

from __future__ import annotations

from speechnas.search.store import TrialRecord

__all__ = ["select_for_target"]


def select_for_target(
    records: list[TrialRecord],
    max_latency_ms: float | None = None,
    max_params: float | None = None,
    *,
    metric: str = "wer",
) -> TrialRecord | None:
    """The complete trial with the lowest ``metric`` within the budget (``None``: none fits).

    Ties go to the lower latency, then the earlier trial.
    """
    fitting = [
        r
        for r in records
        if r.state == "COMPLETE"
        and metric in r.metrics
        and (max_latency_ms is None or r.metrics["latency_ms"] <= max_latency_ms)
        and (max_params is None or r.metrics["params"] <= max_params)
    ]
    if not fitting:
        return None
    return min(fitting, key=lambda r: (r.metrics[metric], r.metrics["latency_ms"], r.number))
