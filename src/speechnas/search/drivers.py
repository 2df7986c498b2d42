"""Search drivers: how a strategy's proposals become finished trials of the study.

Three drivers share one interface, :class:`SearchDriver`:

=================  ===========================================================================
:class:`TrialDriver`     the strategy's sampler proposes, each trial is trained up the
                         fidelity ladder (every sampler strategy: random, evolution, TPE, ...)
:class:`DartsDriver`     DARTS runs once per study and queues its architectures; only those
                         are trained, as trials (:mod:`speechnas.search.darts_strategy`)
:class:`SupernetDriver`  one weight-sharing supernet is trained; subnets are scored on its
                         weights, each one a trial (:mod:`speechnas.search.supernet_strategy`)
=================  ===========================================================================

:func:`driver_for` gives a strategy's driver. Trials that are trained run through a
:class:`~speechnas.search.executor.TrialExecutor`, so where they run changes nothing here.
"""

from __future__ import annotations

import abc
import time

from speechnas.search.config import SearchConfig
from speechnas.search.darts_strategy import queue_darts
from speechnas.search.evaluation import TrialEvaluator, objective_values
from speechnas.search.executor import TrialExecutor
from speechnas.search.jobs import TrialJob, absolute, bound
from speechnas.search.progress import SearchProgress
from speechnas.search.store import SearchStore, TrialRecord
from speechnas.search.summary import SearchSummary
from speechnas.search.supernet_strategy import run_supernet_search, split_by_depth

__all__ = [
    "MAX_FAILURES_IN_A_ROW",
    "DartsDriver",
    "SearchDriver",
    "SupernetDriver",
    "TrialDriver",
    "driver_for",
]

#: A search stops (keeping what finished) after this many failed trials in a row: something
#: is wrong beyond one architecture.
MAX_FAILURES_IN_A_ROW = 5

#: How often the progress bar of a supernet search re-reads the study (seconds).
SUBNET_PROGRESS_SECONDS = 2.0


class SearchDriver(abc.ABC):
    """Runs one strategy's search in a study, until its budget is met.

    Contract (``tests/search/test_drivers.py``):

    * ``exclusive``: the driver needs the study to itself for the whole run (one shared
      model is trained: another process running the same study waits for it to finish);
      its trials run in the search's process, whatever the executor.
    * ``budget(config, store)`` is called once per run, after interrupted trials were
      recovered and before any trial starts; it prepares what the trials need (DARTS'
      proposals, queued in the study once per study) and returns how many trials the run's
      budget counts: ``config.n_trials``, or fewer where the strategy proposes fewer.
    * ``done(summary)``: how much of that budget a study's summary has used (what the
      progress bar counts).
    * ``run(evaluator, executor, progress, max_new_trials)`` runs trials until ``done``
      reaches the budget, or ``max_new_trials`` new trials in this call; every trial is in
      the study (told) when it returns. Resumable: run again, it goes on where it stopped.
    * ``describe(config)``: how trials are scored, a sentence for the report.
    """

    exclusive: bool = False

    def budget(self, config: SearchConfig, store: SearchStore) -> int:
        """The trials this run's budget counts (see the class docstring)."""
        return config.n_trials

    def done(self, summary: SearchSummary) -> int:
        """How much of the budget ``summary`` has used: its finished trials."""
        return summary.finished

    @abc.abstractmethod
    def run(
        self,
        evaluator: TrialEvaluator,
        executor: TrialExecutor,
        progress: SearchProgress,
        max_new_trials: int | None,
    ) -> None:
        """Run trials until the budget is met (see the class docstring)."""

    @abc.abstractmethod
    def describe(self, config: SearchConfig) -> str:
        """How trials are scored, one sentence."""


class TrialDriver(SearchDriver):
    """The strategy's sampler proposes; every trial is trained up the fidelity ladder."""

    #: Start queued proposals only (the sampler proposes nothing of its own).
    queued_only = False

    def run(
        self,
        evaluator: TrialEvaluator,
        executor: TrialExecutor,
        progress: SearchProgress,
        max_new_trials: int | None,
    ) -> None:
        failures_in_a_row = 0

        def on_record(record: TrialRecord) -> None:
            nonlocal failures_in_a_row
            failures_in_a_row = failures_in_a_row + 1 if record.state == "FAIL" else 0
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise RuntimeError(
                    f"{failures_in_a_row} trials in a row failed (last: trial "
                    f"{record.number}, {record.reason}); stopping the search. Finished "
                    f"trials are kept in {evaluator.config.storage_url}"
                )
            progress.update()

        job = TrialJob(absolute(evaluator.config), progress.total, self.queued_only)
        with bound(evaluator):  # a job run in this process works on this evaluator
            executor.run(
                job,
                on_record,
                lambda: progress.update("waiting for running trials"),
                max_new_trials,
            )

    def describe(self, config: SearchConfig) -> str:
        fidelity = config.fidelity
        return (
            f"Fidelity ladder (data fraction x epochs): {fidelity.signature}; pruner "
            f"{fidelity.pruner}, reduction factor {fidelity.reduction_factor}."
        )


class DartsDriver(TrialDriver):
    """DARTS proposes once per study (queued trials); only its proposals are trained."""

    exclusive = True
    queued_only = True

    def budget(self, config: SearchConfig, store: SearchStore) -> int:
        return queue_darts(config, store)

    def describe(self, config: SearchConfig) -> str:
        targets = config.strategy_options.get("targets_ms")
        return (
            f"Proposals: one DARTS run per latency target ({targets or 'none'} ms; "
            "darts/<target>/darts.json in the run folder), each extracting the best "
            f"architecture within its target; each is trained as a trial. "
            f"{super().describe(config)}"
        )


class SupernetDriver(SearchDriver):
    """One supernet trained; subnets scored on its weights in this process (no executor:
    a subnet's score takes a fraction of a second). ``n_trials`` counts scored subnets."""

    exclusive = True

    def done(self, summary: SearchSummary) -> int:
        return summary.complete

    def run(
        self,
        evaluator: TrialEvaluator,
        executor: TrialExecutor,
        progress: SearchProgress,
        max_new_trials: int | None,
    ) -> None:
        config = evaluator.config
        if self.done(progress.update()) >= progress.total:
            return  # done (here, or by a search in another run folder)
        shown = time.monotonic()

        def now_and_then() -> None:
            # Subnets take a fraction of a second each: re-reading the whole study after
            # every one would cost more than scoring them as it grows.
            nonlocal shown
            if time.monotonic() - shown >= SUBNET_PROGRESS_SECONDS:
                progress.update()
                shown = time.monotonic()

        run_supernet_search(
            config,
            evaluator.store,
            evaluator.check,
            lambda metrics: objective_values(metrics, config),
            max_new_trials=max_new_trials,
            on_trial=now_and_then,
        )

    def describe(self, config: SearchConfig) -> str:
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


#: The drivers of the strategies that are not plain samplers.
_DRIVERS: dict[str, SearchDriver] = {"darts": DartsDriver(), "supernet": SupernetDriver()}


def driver_for(strategy: str) -> SearchDriver:
    """The driver of ``strategy`` (a name of :data:`~speechnas.search.strategies.STRATEGIES`)."""
    return _DRIVERS.get(strategy, TrialDriver())
