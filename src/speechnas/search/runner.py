"""The search loop: propose, check cheaply, estimate, record; resumable from its database.

The strategy's driver (:mod:`speechnas.search.drivers`) decides which trials run, an
executor (:mod:`speechnas.search.executor`) where they run; for every trial, in order
(:mod:`speechnas.search.evaluation`):

1. the strategy proposes an architecture (Optuna ask);
2. an architecture already finished in this study is not trained again: its result is copied;
3. cheap measurements (parameters, MACs, memory, measured CPU latency) are taken on the
   untrained model, and a trial breaking a hard constraint is recorded as pruned, untrained;
4. the rest train up the fidelity ladder (:mod:`speechnas.search.fidelity`), where the
   pruner may stop them;
5. the result goes to the database (Optuna tell) before the next trial starts.

Run it again with the same config and it continues: finished trials are kept, a trial left
running by a killed process is marked failed and retried, and proposals continue as if
nothing had happened (see :func:`~speechnas.search.strategies.proposal_index`).

Several searches may share one study (the same ``--storage`` and name, from other run
folders or machines): they share its budget (a trial starts only while the finished and
running trials leave room, and a search whose budget the others' running trials fill waits
for them), one architecture is evaluated by one trial while another proposing it waits to
copy its result, and a trial is failed as interrupted only when its process is dead
(:mod:`~speechnas.search.liveness`). The weight-sharing strategies (``supernet``, ``darts``)
run in one process per study at a time; another waits for it, then continues its work or
finds the budget met.

Within one search, ``config.parallel`` (or the ``executor`` argument) runs several trials at
once (:func:`make_executor`: worker processes on this machine, or Ray tasks on a cluster);
each worker claims its trials from the study as a separate search would, so the same rules
hold between workers. A trial whose worker dies is retried once.
"""

from __future__ import annotations

import contextlib
import logging
import os

import yaml

from speechnas.locking import exclusive
from speechnas.search.config import SearchConfig
from speechnas.search.drivers import SearchDriver, driver_for
from speechnas.search.executor import InProcessExecutor, TrialExecutor
from speechnas.search.opening import open_store
from speechnas.search.progress import SearchProgress, progress_bar
from speechnas.search.store import SearchStore
from speechnas.search.summary import PREDICTED_PRUNE, SearchSummary, summarise
from speechnas.search.task import trial_evaluator

__all__ = [
    "PREDICTED_PRUNE",
    "SearchSummary",
    "make_executor",
    "open_store",
    "run_search",
    "summarise",
]

log = logging.getLogger(__name__)


def make_executor(config: SearchConfig) -> TrialExecutor:
    """The executor ``config.parallel`` names."""
    parallel = config.parallel
    if parallel.executor == "processes":
        from speechnas.search.process_pool import ProcessExecutor

        threads = config.train.threads or 1
        workers = parallel.workers or max(1, (os.cpu_count() or 1) // threads)
        return ProcessExecutor(workers)
    if parallel.executor == "ray":
        from speechnas.search.ray_executor import RayExecutor

        resources = parallel.trial_resources
        return RayExecutor(
            parallel.workers, parallel.ray_address, cpu=resources.cpu, gpu=resources.gpu
        )
    return InProcessExecutor()


def run_search(
    config: SearchConfig,
    *,
    progress: bool = True,
    max_new_trials: int | None = None,
    executor: TrialExecutor | None = None,
) -> SearchSummary:
    """Run (or continue) ``config``'s search until ``n_trials`` trials have finished.

    Args:
        max_new_trials: stop after this many trials in this call (for tests and slices of
            work); ``None`` runs to the budget.
        executor: where the trials run (default: as ``config.parallel`` says; the
            weight-sharing strategies run theirs in this process).

    Raises:
        UserError: a bad config, database, data folder, or another search running here.
    """
    run_dir = config.run_dir
    with exclusive(run_dir, "search"):
        store = open_store(config)  # refuses a study started with another config
        try:
            (run_dir / "config.yaml").write_text(
                yaml.safe_dump(config.to_dict(), sort_keys=True), encoding="utf-8"
            )
            driver = driver_for(config.strategy)
            whole_run: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if driver.exclusive:
                whole_run = store.lock.hold(
                    waiting=f"another process runs strategy {config.strategy} on study "
                    f"{config.name!r}; waiting for it to finish (weight-sharing strategies "
                    "run in one process per study at a time)"
                )
            if executor is None:
                executor = InProcessExecutor() if driver.exclusive else make_executor(config)
            with whole_run:
                return _run(config, store, driver, executor, progress, max_new_trials)
        finally:
            store.close()


def _run(
    config: SearchConfig,
    store: SearchStore,
    driver: SearchDriver,
    executor: TrialExecutor,
    progress: bool,
    max_new_trials: int | None,
) -> SearchSummary:
    interrupted = store.recover()
    if interrupted:
        log.warning("trial(s) %s were interrupted; they are retried", interrupted)
    evaluator = trial_evaluator(config, store)  # checks the data before anything runs
    budget = driver.budget(config, store)
    with progress_bar(progress) as bar:
        display = SearchProgress(bar, store, config, budget, driver.done)
        display.update()
        driver.run(evaluator, executor, display, max_new_trials)
        return display.update()
