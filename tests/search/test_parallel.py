"""Trials in parallel: worker processes, or Ray tasks on a real Ray cluster, share one study
(SQLite, or a real PostgreSQL server). A worker killed mid-trial loses nothing finished, its
trial is retried once by another, no architecture is trained twice, and the budget is met."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import FrozenTrial, TrialState

from speechnas.search.config import search_config_from_dict
from speechnas.search.process_pool import ProcessExecutor
from speechnas.search.runner import make_executor, run_search
from speechnas.testing.processes import start_cli
from speechnas.testing.search import tiny_search

DONE = (TrialState.COMPLETE, TrialState.PRUNED)

#: How long a search may take: only a broken machine, not a busy one, takes this long.
DEADLINE_S = 1200.0


def _config(root: Path, **changes: Any) -> dict[str, Any]:
    config = tiny_search(
        root, strategy="random", strategy_options={}, final={"top_k": 0}, **changes
    )
    config["fidelity"]["rungs"] = [{"fraction": 1.0, "epochs": 3}]
    return config


@functools.cache
def _storage(url: str) -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(url)  # one per database: the test polls it


def _trials(url: str) -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name="tiny", storage=_storage(url)).get_trials()
    except Exception:  # not created yet, or busy
        return []


def _pid(trial: FrozenTrial) -> int | None:
    worker = trial.user_attrs.get("worker")
    return int(worker["pid"]) if isinstance(worker, dict) else None


def _training(url: str, besides: int) -> FrozenTrial | None:
    """A trial a worker (not process ``besides``) is training now."""
    for t in _trials(url):
        if t.state == TrialState.RUNNING and "twin" in t.user_attrs and _pid(t) != besides:
            return t
    return None


def _kill_a_worker_mid_trial(argv: list[str], url: str, log: Path) -> tuple[int, dict[int, Any]]:
    """Run ``speechnas ARGV``; SIGKILL the worker of the first trial seen training (stopped
    first, then checked to hold that trial still: a state, whatever the machine's speed).
    Returns the killed trial's number and the trials finished before, as they were."""
    search = start_cli(argv, log)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert search.poll() is None, log.read_text()[-5000:]
        assert time.monotonic() < deadline, "no trial was seen training"
        trial = _training(url, besides=search.pid)
        if trial is not None:
            pid = _pid(trial)
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            now = {t.number: t for t in _trials(url)}
            if now[trial.number].state == TrialState.RUNNING and _pid(now[trial.number]) == pid:
                os.kill(pid, signal.SIGKILL)
                break
            os.kill(pid, signal.SIGCONT)  # it finished meanwhile: catch the next one
        time.sleep(0.02)
    finished = {n: (t.state, t.values, t.user_attrs) for n, t in now.items() if t.state in DONE}
    assert search.wait(timeout=DEADLINE_S) == 0, log.read_text()[-5000:]
    return trial.number, finished


def _check(root: Path, url: str, killed: int, before: dict[int, Any], n_trials: int) -> None:
    trials = _trials(url)
    by_number = {t.number: t for t in trials}
    # The budget is met exactly; the killed trial failed as interrupted, and nothing else.
    assert sum(t.state in DONE for t in trials) == n_trials
    assert [t.number for t in trials if t.state not in DONE] == [killed]
    assert by_number[killed].state == TrialState.FAIL
    assert by_number[killed].user_attrs["lost"] is True
    # Retried once, by another worker; the retry finished.
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == killed]
    assert retry.state in DONE
    assert retry.params == by_number[killed].params
    assert _pid(retry) != _pid(by_number[killed])
    # Every trial finished before the kill is unchanged.
    for number, (state, values, attrs) in before.items():
        assert (by_number[number].state, by_number[number].values) == (state, values)
        assert by_number[number].user_attrs == attrs
    # No architecture trained twice (the killed trial's retry trains it once more, by design).
    evaluated = [
        t.user_attrs["arch_id"]
        for t in trials
        if t.state in DONE and "cached_from" not in t.user_attrs
    ]
    assert len(evaluated) == len(set(evaluated))
    trained = {int(p.name) for p in (root / "runs" / "tiny" / "trials").iterdir()}
    numbers = {t.number for t in trials if t.state in DONE and "cached_from" not in t.user_attrs}
    assert numbers <= trained <= numbers | {killed}
    # Trials ran in more than one worker process (each trial records its worker).
    assert len({_pid(t) for t in trials}) >= 2


@pytest.mark.slow
def test_a_worker_process_killed_mid_trial_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path)))
    url = f"sqlite:///{(tmp_path / 'runs' / 'tiny' / 'study.db').resolve()}"
    argv = ["search", "--config", str(path), "--no-progress", "--executor", "processes"]
    killed, before = _kill_a_worker_mid_trial(
        [*argv, "--workers", "2"], url, tmp_path / "search.log"
    )
    _check(tmp_path, url, killed, before, n_trials=6)


@pytest.mark.slow
def test_a_ray_worker_killed_mid_trial_loses_nothing_postgresql(
    tmp_path: Path, postgres_url: str, ray_address: str
) -> None:
    """The issue's case: a real PostgreSQL server, a real Ray cluster, 6 trials, 2 workers."""
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path)))
    argv = ["search", "--config", str(path), "--no-progress", "--storage", postgres_url]
    killed, before = _kill_a_worker_mid_trial(
        [*argv, "--ray", ray_address, "--workers", "2"], postgres_url, tmp_path / "search.log"
    )
    _check(tmp_path, postgres_url, killed, before, n_trials=6)


def test_the_executor_follows_the_config(tmp_path: Path) -> None:
    config = search_config_from_dict(
        _config(tmp_path, parallel={"executor": "processes", "workers": 3})
    )
    executor = make_executor(config)
    assert isinstance(executor, ProcessExecutor) and executor.workers == 3


@pytest.mark.slow  # over 10 s
def test_worker_processes_meet_the_budget_with_the_trials_of_one_process(tmp_path: Path) -> None:
    """The same ``random`` search in one process and in two workers evaluates the same set of
    architectures, each recorded once."""
    one = search_config_from_dict(_config(tmp_path / "one", n_trials=4))
    two = search_config_from_dict(
        _config(tmp_path / "two", n_trials=4, parallel={"executor": "processes", "workers": 2})
    )
    run_search(one, progress=False)
    summary = run_search(two, progress=False)
    assert summary.finished == 4
    ids = []
    for config in (one, two):
        study = optuna.load_study(study_name="tiny", storage=config.storage_url)
        assert all(t.state in DONE for t in study.trials) and len(study.trials) == 4
        ids.append(sorted(t.user_attrs["arch_id"] for t in study.trials))
    assert ids[0] == ids[1]


@pytest.mark.slow
def test_a_killed_search_is_rerun_and_its_workers_trials_are_kept(tmp_path: Path) -> None:
    """The search (the driver) is SIGKILLed while its workers train: they finish their
    trials, and the same command run again reattaches to the study and meets the budget."""
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path)))
    url = f"sqlite:///{(tmp_path / 'runs' / 'tiny' / 'study.db').resolve()}"
    argv = ["search", "--config", str(path), "--no-progress", "--executor", "processes"]
    argv += ["--workers", "2"]
    log = tmp_path / "search.log"
    search = start_cli(argv, log)
    deadline = time.monotonic() + DEADLINE_S
    while _training(url, besides=search.pid) is None:
        assert search.poll() is None, log.read_text()[-5000:]
        assert time.monotonic() < deadline, "no trial was seen training"
        time.sleep(0.02)
    search.kill()
    search.wait()
    again = start_cli(argv, tmp_path / "again.log")
    assert again.wait(timeout=DEADLINE_S) == 0, (tmp_path / "again.log").read_text()[-5000:]
    trials = _trials(url)
    assert sum(t.state in DONE for t in trials) == 6
    assert [t.number for t in trials if t.state not in DONE] == []  # none lost, none failed
    evaluated = [t.user_attrs["arch_id"] for t in trials if "cached_from" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated))
