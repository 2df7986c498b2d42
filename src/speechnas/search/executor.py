"""Where a search's trials run: the executor interface, the in-process executor, and the
dispatch loop of the parallel ones.

A search driver (:mod:`speechnas.search.drivers`) decides *which* trials a search runs; an
executor decides *where* and *how many at once*. Strategies know of neither.

=====================================================  ========================================
:class:`InProcessExecutor` (``local``, the default)    one trial at a time, in this process
:class:`~speechnas.search.process_pool.ProcessExecutor`  N worker processes on this machine
  (``processes``)
:class:`~speechnas.search.ray_executor.RayExecutor`    each trial a Ray task with the resources
  (``ray``)                                            of ``parallel.trial_resources``
=====================================================  ========================================

A worker runs a :class:`~speechnas.search.jobs.TrialJob`: it claims a trial of the shared
study itself (the strategy proposes from every result recorded so far, and from the trials
still running where it takes them into account) and evaluates it. A worker that dies
mid-trial leaves its trial running in the study with a dead process; the next claim fails
it and queues it again (:meth:`~speechnas.search.store.SearchStore.recover`), so another
worker retries it, once.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from speechnas.search.evaluation import POLL_SECONDS, NoTrial
from speechnas.search.jobs import TrialJob
from speechnas.search.store import TrialRecord

__all__ = [
    "MAX_LOST_IN_A_ROW",
    "InProcessExecutor",
    "ParallelExecutor",
    "TrialExecutor",
    "WorkerLost",
]

log = logging.getLogger(__name__)

#: A parallel search stops (keeping what finished) after this many workers died in a row
#: without a trial finishing between: something kills every worker.
MAX_LOST_IN_A_ROW = 5


class TrialExecutor(abc.ABC):
    """Runs a search's trials until there are no more to claim.

    Contract (``tests/search/test_executor.py`` runs a whole search through each one):

    * ``run(job, on_record, on_wait, max_new_trials)`` runs ``job`` (a
      :class:`~speechnas.search.jobs.TrialJob`: claim one trial, evaluate it) over and over,
      in workers of the executor's choosing, some at once. A run of the job returns the
      trial's record (already told to the study), or
      :attr:`NoTrial.DONE <speechnas.search.evaluation.NoTrial.DONE>` (the budget is met:
      start no more) or :attr:`NoTrial.WAIT <speechnas.search.evaluation.NoTrial.WAIT>`
      (running trials fill the budget: call ``on_wait()``, and run it again after a while or
      once another trial finished).
    * ``on_record(record)`` is called with every record, in the calling thread, in the order
      the trials finished; an exception it raises stops the run (after the trials already
      started have finished) and propagates.
    * An exception raised by the job (a bad config or data, a full disk: every trial would
      fail the same way) propagates after the trials already started have finished.
    * A worker that dies mid-trial loses nothing finished: the run goes on, and its trial is
      retried by a later claim (a parallel executor stops after :data:`MAX_LOST_IN_A_ROW`
      lost workers in a row).
    * At most ``max_new_trials`` trials are evaluated (``None``: no limit). Returns how many
      trials were evaluated.
    """

    @abc.abstractmethod
    def run(
        self,
        job: TrialJob,
        on_record: Callable[[TrialRecord], None],
        on_wait: Callable[[], object],
        max_new_trials: int | None = None,
    ) -> int:
        """Run ``job`` until no trial is left (see the class docstring)."""


class InProcessExecutor(TrialExecutor):
    """One trial at a time, in the calling thread (the default; exactly reproducible)."""

    def run(
        self,
        job: TrialJob,
        on_record: Callable[[TrialRecord], None],
        on_wait: Callable[[], object],
        max_new_trials: int | None = None,
    ) -> int:
        new = 0
        while max_new_trials is None or new < max_new_trials:
            outcome = job()
            if outcome is NoTrial.DONE:
                break
            if outcome is NoTrial.WAIT:
                on_wait()
                time.sleep(POLL_SECONDS)
                continue
            assert isinstance(outcome, TrialRecord)
            new += 1
            on_record(outcome)
        return new


@dataclass(frozen=True)
class WorkerLost:
    """What a parallel executor's pool reports for a job whose worker died (``why``: how)."""

    why: str


#: What a pool reports for one job: its result, the exception it raised, or a lost worker.
Outcome = TrialRecord | NoTrial | BaseException | WorkerLost


class ParallelExecutor(TrialExecutor):
    """Keeps ``workers`` jobs running at once in a pool of the subclass's; see
    :class:`TrialExecutor` for what ``run`` promises.

    Subclasses start and stop their pool (:meth:`_open`, :meth:`_close`), start a job
    (:meth:`_submit`, returning a handle) and report the jobs that ended (:meth:`_wait`).
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers}; need at least 1")
        self.workers = workers

    @abc.abstractmethod
    def _open(self, job: TrialJob) -> None:
        """Start the pool (or connect to it)."""

    @abc.abstractmethod
    def _submit(self, job: TrialJob) -> Hashable:
        """Start one run of ``job``; a handle that :meth:`_wait` reports it by."""

    @abc.abstractmethod
    def _wait(self, timeout: float) -> list[tuple[Hashable, Outcome]]:
        """The jobs that ended, waiting up to ``timeout`` seconds for one (``[]``: none)."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Stop the pool (its jobs have ended)."""

    def run(
        self,
        job: TrialJob,
        on_record: Callable[[TrialRecord], None],
        on_wait: Callable[[], object],
        max_new_trials: int | None = None,
    ) -> int:
        self._open(job)
        try:
            return self._dispatch(job, on_record, on_wait, max_new_trials)
        finally:
            self._close()

    def _dispatch(
        self,
        job: TrialJob,
        on_record: Callable[[TrialRecord], None],
        on_wait: Callable[[], object],
        max_new_trials: int | None,
    ) -> int:
        running: set[Hashable] = set()
        new = lost_in_a_row = 0
        stopping = False
        error: BaseException | None = None
        not_before = 0.0  # no job starts before this time (running trials fill the budget)
        while True:
            room = max_new_trials is None or new + len(running) < max_new_trials
            while not stopping and room and len(running) < self.workers:
                if time.monotonic() < not_before:
                    break
                running.add(self._submit(job))
                room = max_new_trials is None or new + len(running) < max_new_trials
            if not running:
                if stopping or not room:
                    break
                time.sleep(max(0.0, not_before - time.monotonic()))  # others' trials run
                continue
            timeout = max(0.0, not_before - time.monotonic()) or POLL_SECONDS
            for handle, outcome in self._wait(timeout):
                running.discard(handle)
                if isinstance(outcome, TrialRecord):
                    new += 1
                    lost_in_a_row = 0
                    if error is None:
                        try:
                            on_record(outcome)
                        except BaseException as e:
                            error, stopping = e, True
                elif outcome is NoTrial.DONE:
                    stopping = True
                elif outcome is NoTrial.WAIT:
                    on_wait()
                    not_before = time.monotonic() + POLL_SECONDS
                elif isinstance(outcome, WorkerLost):
                    lost_in_a_row += 1
                    log.warning(
                        "a worker died during a trial (%s); its trial is retried by another",
                        outcome.why,
                    )
                    if lost_in_a_row >= MAX_LOST_IN_A_ROW and error is None:
                        error = RuntimeError(
                            f"{lost_in_a_row} workers in a row died during a trial (last: "
                            f"{outcome.why}); stopping the search. Finished trials are kept "
                            f"in {job.config.storage_url}"
                        )
                        stopping = True
                else:
                    assert isinstance(outcome, BaseException)
                    if error is None:
                        error = outcome
                    stopping = True
        if error is not None:
            raise error
        return new
