"""One trial as a unit of work that any process can run: claim a trial, then evaluate it.

A :class:`TrialJob` is what an executor (:mod:`speechnas.search.executor`) hands to its
workers. It holds only the search's config and budget, so it pickles to another process or
machine; there it opens the study (once per process: :func:`evaluator_for`) and works on it
as a ``speechnas search`` command would: under the study's lock it recovers the trials of
dead processes, counts the budget and asks the strategy for the next architecture, then
trains it (:class:`~speechnas.search.evaluation.TrialEvaluator`). Every worker thus proposes
from the same shared study, and the liveness, budget and one-trial-per-architecture rules
of a shared study (:mod:`speechnas.search.runner`) hold between workers as between
searches.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import optuna

from speechnas.search.config import SearchConfig
from speechnas.search.evaluation import Claim, NoTrial, TrialEvaluator
from speechnas.search.opening import open_store
from speechnas.search.store import TrialRecord
from speechnas.search.task import trial_evaluator

__all__ = ["TrialJob", "absolute", "bound", "evaluator_for", "worker_logging"]


@dataclass(frozen=True)
class TrialJob:
    """Claim one trial of ``config``'s study and evaluate it.

    Attributes:
        config: the search (its paths absolute: :func:`absolute`, so that a worker started
            in another folder finds them).
        budget: the trials the search's budget counts.
        queued_only: start queued proposals only (DARTS').
    """

    config: SearchConfig
    budget: int
    queued_only: bool = False

    def claim(self) -> Claim | NoTrial:
        """The next trial and its architecture, or why none starts."""
        return evaluator_for(self.config).next_trial(self.budget, queued_only=self.queued_only)

    def evaluate(self, trial: object, spec: object) -> TrialRecord:
        """Evaluate a trial :meth:`claim` returned (in the process that claimed it)."""
        evaluator = evaluator_for(self.config)
        try:
            return evaluator.run_trial(trial, spec)  # type: ignore[arg-type]
        except BaseException:
            # Bad data or config, a full disk, an interrupt: fail what this process runs now
            # (the study retries it), not later, when this worker process ends.
            evaluator.store.abandon()
            raise

    def __call__(self) -> TrialRecord | NoTrial:
        """:meth:`claim`, then :meth:`evaluate`: one trial (or why none started)."""
        claimed = self.claim()
        if isinstance(claimed, NoTrial):
            return claimed
        return self.evaluate(*claimed)


def absolute(config: SearchConfig) -> SearchConfig:
    """``config`` with its run folder and data (manifests, or a TTS corpus) as absolute
    paths."""
    config = replace(
        config,
        out_root=str(Path(config.out_root).resolve()),
        run_folder=str(config.run_dir.resolve()),
    )
    if config.tts is not None:
        return replace(
            config, tts=replace(config.tts, corpus=str(Path(config.tts.corpus).resolve()))
        )
    data = config.manifests
    data = replace(
        data,
        train_manifest=str(Path(data.train_manifest).resolve()),
        dev_manifest=str(Path(data.dev_manifest).resolve()),
        test_manifests={k: str(Path(v).resolve()) for k, v in data.test_manifests.items()},
    )
    return replace(config, data=data)


#: This process's evaluators, by (storage URL, study name).
_evaluators: dict[tuple[str, str], TrialEvaluator] = {}
_guard = threading.Lock()


def _key(config: SearchConfig) -> tuple[str, str]:
    return config.storage_url, config.name


def evaluator_for(config: SearchConfig) -> TrialEvaluator:
    """This process's evaluator of ``config``'s study: the one :func:`bound` names, else
    opened now (the study, its sampler and pruner, the data checked) and kept, closed when
    the process exits."""
    with _guard:
        key = _key(config)
        if key not in _evaluators:
            store = open_store(config)
            try:
                _evaluators[key] = trial_evaluator(config, store)
            except BaseException:
                store.close()
                raise
            atexit.register(store.close)
        return _evaluators[key]


@contextlib.contextmanager
def bound(evaluator: TrialEvaluator) -> Iterator[TrialEvaluator]:
    """Within the block, jobs of ``evaluator``'s study run on ``evaluator`` (the search's
    own, in the process that runs it) instead of opening the study again."""
    key = _key(evaluator.config)
    with _guard:
        before = _evaluators.get(key)
        _evaluators[key] = evaluator
    try:
        yield evaluator
    finally:
        with _guard:
            if before is None:
                _evaluators.pop(key, None)
            else:
                _evaluators[key] = before


def worker_logging(level: int) -> None:
    """Log in a worker process as the search does (at ``level``), once per process; Optuna's
    notes on opening the study are kept for debug logging, as in the search's process."""
    root = logging.getLogger()
    if not getattr(root, "_speechnas_worker", False):
        logging.basicConfig(
            level=level, format="%(levelname)s worker %(process)d %(name)s: %(message)s"
        )
        root.setLevel(level)
        root._speechnas_worker = True  # type: ignore[attr-defined]
    if level > logging.DEBUG:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
