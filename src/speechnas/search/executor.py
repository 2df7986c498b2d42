"""Where a search's trials run: the executor interface and the in-process executor.

A search driver (:mod:`speechnas.search.drivers`) decides *which* trials a search runs; an
executor decides *where* and *how many at once*. Strategies know of neither.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable

from speechnas.search.evaluation import POLL_SECONDS, Claim, NoTrial
from speechnas.search.store import TrialRecord

__all__ = ["InProcessExecutor", "TrialExecutor"]


class TrialExecutor(abc.ABC):
    """Runs claimed trials until there are no more to claim.

    Contract (``tests/search/test_executor.py`` runs a whole search through each one):

    * ``run(claim, evaluate, on_record, on_wait, max_new_trials)`` calls ``claim()`` for the
      next trial, which returns a :data:`~speechnas.search.evaluation.Claim`,
      :attr:`NoTrial.DONE <speechnas.search.evaluation.NoTrial.DONE>` (stop: the budget is
      met) or :attr:`NoTrial.WAIT <speechnas.search.evaluation.NoTrial.WAIT>` (running trials
      of other processes fill the budget: call ``on_wait()``, then claim again after a
      while). ``claim`` is only ever called from the thread that called ``run``.
    * Every claim is passed to ``evaluate(trial, spec)`` exactly once, in a worker of the
      executor's choosing; it returns the trial's record, already told to the study.
      ``on_record(record)`` is then called with it in the calling thread, in the order the
      trials finished; an exception it raises stops the run (after the trials already
      started have finished) and propagates.
    * An exception raised by ``evaluate`` (a bad config or data, a full disk: every trial
      would fail the same way) propagates after the trials already started have finished.
    * At most ``max_new_trials`` trials are claimed (``None``: no limit). Returns how many
      trials were evaluated.
    """

    @abc.abstractmethod
    def run(
        self,
        claim: Callable[[], Claim | NoTrial],
        evaluate: Callable[..., TrialRecord],
        on_record: Callable[[TrialRecord], None],
        on_wait: Callable[[], object],
        max_new_trials: int | None = None,
    ) -> int:
        """Claim and evaluate trials until none is left (see the class docstring)."""


class InProcessExecutor(TrialExecutor):
    """One trial at a time, in the calling thread (the default)."""

    def run(
        self,
        claim: Callable[[], Claim | NoTrial],
        evaluate: Callable[..., TrialRecord],
        on_record: Callable[[TrialRecord], None],
        on_wait: Callable[[], object],
        max_new_trials: int | None = None,
    ) -> int:
        new = 0
        while max_new_trials is None or new < max_new_trials:
            claimed = claim()
            if claimed is NoTrial.DONE:
                break
            if claimed is NoTrial.WAIT:
                on_wait()
                time.sleep(POLL_SECONDS)
                continue
            record = evaluate(*claimed)
            new += 1
            on_record(record)
        return new
