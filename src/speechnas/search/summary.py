"""Where a search stands: counts of its trials by outcome, its Pareto front and its best.

Read from the stored trials only, so the CLI's ``results``, the report and a running search
all describe a study the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speechnas.search.pareto import pareto_front
from speechnas.search.store import TrialRecord

__all__ = ["PREDICTED_PRUNE", "SearchSummary", "summarise"]

#: The reason of a trial pruned on predicted latency or memory starts with this.
PREDICTED_PRUNE = "predicted:"


@dataclass
class SearchSummary:
    """Where a search stands.

    Attributes:
        finished: complete plus pruned trials.
        complete: trials that reached the last rung.
        stopped_at_rung: trials the pruner stopped, by rung (0-based).
        constrained: trials pruned by a hard constraint before training (with those below).
        predicted_over: of those, trials pruned on predicted latency or memory alone (never
            built for measuring, never trained).
        training_saved_s: the training the predicted prunes saved, estimated as their count
            times the mean wall time of the trials that were trained.
        cached: trials whose architecture had been evaluated before (their copies are not
            counted again as stopped or constrained).
        failed: failed trials (interrupted ones included).
        front: complete trials on the Pareto front of the objectives, one per architecture
            (a cached repeat of an architecture is left out).
        best: the complete trial with the lowest first objective.
        budget: the trials the search runs in all: ``n_trials``, or fewer where its strategy
            proposes fewer (``darts``); 0 where not known (a summary of stored records).
        progress: the trials counted against the budget: finished ones, or the scored
            subnets for ``supernet`` (0 where not known).
    """

    finished: int = 0
    complete: int = 0
    stopped_at_rung: dict[int, int] = field(default_factory=dict)
    constrained: int = 0
    predicted_over: int = 0
    training_saved_s: float = 0.0
    cached: int = 0
    failed: int = 0
    front: list[TrialRecord] = field(default_factory=list)
    best: TrialRecord | None = None
    budget: int = 0
    progress: int = 0

    def describe(self, n_trials: int) -> str:
        """One sentence of counts, as the CLI and the report print it."""
        stopped = ", ".join(f"rung {k}: {n}" for k, n in sorted(self.stopped_at_rung.items()))
        return (
            f"{self.finished} of {n_trials} trials finished: {self.complete} reached the last "
            f"rung; stopped early by the pruner: {stopped or 'none'}; pruned by constraints "
            f"before training: {self.constrained}{self._predicted()}; same architecture as an "
            "earlier trial: "
            f"{self.cached}; failed: {self.failed}; Pareto front: {len(self.front)}."
        )

    def _predicted(self) -> str:
        if not self.predicted_over:
            return ""
        return (
            f" ({self.predicted_over} on predicted latency or memory, saving about "
            f"{self.training_saved_s / 60:.0f} min of training)"
        )


def summarise(records: list[TrialRecord], objectives: tuple[str, ...]) -> SearchSummary:
    out = SearchSummary()
    complete = [r for r in records if r.state == "COMPLETE" and len(r.values) == len(objectives)]
    out.complete = len(complete)
    out.finished = sum(r.finished for r in records)
    out.failed = sum(r.state == "FAIL" for r in records)
    out.cached = sum(r.cached_from is not None for r in records)
    for r in records:
        if r.state != "PRUNED" or r.cached_from is not None:
            continue
        if r.rung < 0:
            out.constrained += 1
            out.predicted_over += r.reason.startswith(PREDICTED_PRUNE)
        else:
            out.stopped_at_rung[r.rung] = out.stopped_at_rung.get(r.rung, 0) + 1
    trained = [r.wall_seconds for r in records if r.rung >= 0 and r.cached_from is None]
    if trained:
        out.training_saved_s = out.predicted_over * sum(trained) / len(trained)
    # A cached trial repeats its first trial's architecture and values: one of them is enough.
    distinct = [r for r in complete if r.cached_from is None]
    points = [tuple(r.values[o] for o in objectives) for r in distinct]
    out.front = sorted((distinct[i] for i in pareto_front(points)), key=lambda r: r.number)
    if complete:
        out.best = min(complete, key=lambda r: (r.values[objectives[0]], r.number))
    return out
