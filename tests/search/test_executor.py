"""Executors: a whole search runs through the default one and through a new one that the
strategies, drivers and runner know nothing of."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna

from speechnas.search.config import search_config_from_dict
from speechnas.search.evaluation import Claim, NoTrial
from speechnas.search.executor import InProcessExecutor, TrialExecutor
from speechnas.search.jobs import TrialJob
from speechnas.search.runner import open_store, run_search
from speechnas.search.store import TrialRecord
from speechnas.testing.search import tiny_search


class BatchExecutor(TrialExecutor):
    """A toy executor: claims ``size`` trials, then evaluates them; several trials of one
    process are RUNNING in the study at once, as under a pool of workers."""

    def __init__(self, size: int) -> None:
        self.size, self.most_running = size, 0

    def run(
        self,
        job: TrialJob,
        on_record: Callable[[TrialRecord], None],
        on_wait: Callable[[], object],
        max_new_trials: int | None = None,
    ) -> int:
        new = 0
        limit = max_new_trials if max_new_trials is not None else float("inf")
        while True:
            batch: list[Claim] = []
            while len(batch) < self.size and new + len(batch) < limit:
                claimed = job.claim()
                if isinstance(claimed, NoTrial):
                    break
                batch.append(claimed)
            if not batch:
                return new
            self.most_running = max(self.most_running, len(batch))
            for trial, spec in batch:
                on_record(job.evaluate(trial, spec))
                new += 1


def test_a_new_executor_runs_a_whole_search_without_touching_strategies(tmp_path: Path) -> None:
    config = search_config_from_dict(tiny_search(tmp_path, n_trials=4))
    executor = BatchExecutor(size=2)
    summary = run_search(config, progress=False, executor=executor)
    assert executor.most_running == 2
    assert summary.finished == 4
    records = open_store(config, for_search=False).records()
    assert len(records) == 4 and all(r.state in ("COMPLETE", "PRUNED") for r in records)
    assert all("wer" in r.metrics or r.rung == -1 for r in records)


def test_the_in_process_executor_stops_at_the_budget_and_at_max_new_trials(
    tmp_path: Path,
) -> None:
    config = search_config_from_dict(tiny_search(tmp_path, n_trials=3))
    assert run_search(config, progress=False, max_new_trials=1).finished == 1
    assert run_search(config, progress=False, executor=InProcessExecutor()).finished == 3
    study = optuna.load_study(study_name="tiny", storage=config.storage_url)
    assert len(study.trials) == 3
