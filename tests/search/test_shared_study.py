"""Several searches on one study: they share the budget, never train one architecture twice
and never fail each other's live trials; only a dead process's trials are retried."""

from __future__ import annotations

import contextlib
import functools
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import FrozenTrial, TrialState

from speechnas.search import liveness
from speechnas.search.liveness import Worker, is_dead
from speechnas.search.store import SearchStore
from speechnas.testing.processes import resume, start_cli, wait_stopped
from speechnas.testing.search import tiny_search

DONE = (TrialState.COMPLETE, TrialState.PRUNED)

#: Four architectures, so that six trials propose some of them twice.
SMALL_SPACE = {"encoders": ["lstm", "cnn"], "min_layers": 1, "max_layers": 1, "kernels": [3]}

#: How long the searches may take: only a broken machine, not a busy one, takes this long.
DEADLINE_S = 900.0


def _search(root: Path, name: str) -> Path:
    config = tiny_search(
        root,
        strategy="random",
        strategy_options={},
        n_trials=6,
        final={"top_k": 1, "epochs": 1},
        out_root=str(root / name),
    )
    config["space"].update(SMALL_SPACE)
    config["fidelity"]["rungs"] = [{"fraction": 1.0, "epochs": 1}]
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@functools.cache
def _storage(url: str) -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(url)  # one per database: the test polls it


def _trials(url: str, name: str = "tiny") -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=_storage(url)).get_trials()
    except Exception:  # not created yet, or busy
        return []


def _two_searches(root: Path, storage: str) -> list[FrozenTrial]:
    """Two searches on one study: the first stops itself as its first trial starts training,
    the second starts then, recovers the study and runs trials until it has one of its own,
    and only then does the first go on, so that they overlap whatever the machine's speed.
    Both must exit 0; returns the study's trials."""
    configs = [_search(root, name) for name in ("a", "b")]  # data written once, first
    logs = [root / "a.log", root / "b.log"]
    argv = ["search", "--storage", storage, "--no-progress", "--config"]
    first = start_cli(
        [*argv, str(configs[0])],
        logs[0],
        stop_before="speechnas.search.evaluation:train_ladder",
        # No heartbeat write while it is stopped (it could hold the database): on one
        # machine liveness is the process itself.
        patches={"speechnas.search.liveness:HEARTBEAT_SECONDS": 3600},
    )
    wait_stopped(first, logs[0])
    (held,) = [t.number for t in _trials(storage) if t.state == TrialState.RUNNING]
    second = start_cli([*argv, str(configs[1])], logs[1])
    deadline = time.monotonic() + DEADLINE_S
    while not [t for t in _trials(storage) if _pid(t) == second.pid]:
        assert second.poll() is None, logs[1].read_text()
        assert time.monotonic() < deadline, "the second search never started a trial"
        time.sleep(0.1)
    # The second search's recovery left the first one's live (if stopped) trial alone.
    assert _trials(storage)[held].state == TrialState.RUNNING
    resume(first)
    for proc, log in zip((first, second), logs, strict=True):
        assert proc.wait(timeout=DEADLINE_S) == 0, log.read_text()
    return _trials(storage)


def _pid(trial: FrozenTrial) -> int | None:
    worker = trial.user_attrs.get("worker")
    return int(worker["pid"]) if isinstance(worker, dict) else None


def _check_shared(root: Path, trials: list[FrozenTrial], storage: str) -> None:
    # The budget is met exactly, and nothing failed or was taken for dead.
    assert sum(t.state in DONE for t in trials) == 6
    assert [t for t in trials if t.state not in DONE] == []
    assert not any(t.user_attrs.get("interrupted") for t in trials)
    # Each architecture was evaluated by one trial; the others copied its result.
    evaluated = [t.user_attrs["arch_id"] for t in trials if "cached_from" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated))
    copies = [t for t in trials if "cached_from" in t.user_attrs]
    assert copies, "six trials over four architectures repeat one"
    by_number = {t.number: t for t in trials}
    for t in copies:
        assert (
            t.user_attrs["arch_id"] == by_number[t.user_attrs["cached_from"]].user_attrs["arch_id"]
        )
        assert t.values == by_number[t.user_attrs["cached_from"]].values
    # Each trial trained once, in the run folder of the search that ran it; both searches
    # ran trials (the second started one while the first was held).
    trained = sorted(p.name for p in root.glob("[ab]/tiny/trials/*"))
    assert len(trained) == len(set(trained)) == len(evaluated)
    assert len({_pid(t) for t in trials}) == 2
    # The front is retrained once, by one of them.
    assert len(list(root.glob("[ab]/tiny/final/*/result.json"))) == 1
    assert all(t.state != TrialState.RUNNING for t in _trials(storage, "tiny.fidelity"))


def test_two_searches_share_one_sqlite_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    _check_shared(tmp_path, _two_searches(tmp_path, storage), storage)


@pytest.mark.slow  # over 10 s; the SQLite twin runs in every make test
def test_two_searches_share_one_postgresql_study(tmp_path: Path, postgres_url: str) -> None:
    _check_shared(tmp_path, _two_searches(tmp_path, postgres_url), postgres_url)


# --- liveness -------------------------------------------------------------------------------


@contextlib.contextmanager
def _sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this machine, killed on the way out however the block ends (a
    failed assertion must not wait for it to end by itself)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_trial_is_dead_only_when_its_process_is() -> None:
    here = Worker.here()
    record = here.record()
    assert not is_dead(record, here, held=True)
    assert is_dead(record, here)  # this process's, but let go of (an exception ended its run)
    with _sleeper() as proc:
        other = Worker(here.machine, proc.pid, liveness._started(proc.pid)).record()
        assert not is_dead(other, here)
        assert is_dead({**other, "started": "1"}, here)  # the id names a later process
        proc.kill()
        proc.wait()
    assert is_dead(other, here)
    assert is_dead(None, here)  # no record: started by a process that wrote none
    # Another machine: by its heartbeat and the grace period.
    remote = {**record, "machine": "elsewhere"}
    assert not is_dead(remote, here, now=record["beat"] + liveness.GRACE_SECONDS - 1)
    assert is_dead(remote, here, now=record["beat"] + liveness.GRACE_SECONDS + 1)


def _store(url: str) -> SearchStore:
    return SearchStore(url, "s", ("wer",), {"n_trials": 2})


def _running(url: str, worker: dict[str, Any]) -> int:
    """A running trial owned by ``worker`` (as another process would leave it)."""
    store = _store(url)
    with store.lock.hold():
        trial = store.study.ask()
        trial.suggest_int("x", 0, 3)
        store.storage.set_trial_user_attr(
            store.trial_id(store.study, trial.number), "worker", worker
        )
    store.close()
    return trial.number


def test_recovery_leaves_a_live_process_trial_alone_and_retries_a_dead_one(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    here = Worker.here()
    with _sleeper() as proc:
        alive = Worker(here.machine, proc.pid, liveness._started(proc.pid)).record()
        number = _running(url, alive)
        store = _store(url)
        assert store.recover() == []
        assert store.study.trials[number].state == TrialState.RUNNING
        proc.kill()
        proc.wait()
    assert store.recover() == [number]
    trials = store.study.trials
    assert trials[number].state == TrialState.FAIL
    assert trials[number].user_attrs["reason"] == "interrupted: its process died"
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == number]
    assert retry.state == TrialState.WAITING
    assert store.recover() == []  # done once: no second retry
    assert len(store.study.trials) == len(trials)
    store.close()


def test_a_trial_whose_process_dies_twice_is_not_retried_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    here = Worker.here()

    def dead_worker() -> dict[str, Any]:
        with subprocess.Popen([sys.executable, "-c", "pass"]) as proc:
            record = Worker(here.machine, proc.pid, liveness._started(proc.pid)).record()
            proc.wait()
        return {**record, "started": "1"}  # its process is gone (or the id reused)

    first = _running(url, dead_worker())
    store = _store(url)
    assert store.recover() == [first]
    with store.lock.hold():
        retry = store.study.ask()  # the queued retry, started by a process that dies too
        assert retry.user_attrs["retry_of"] == first
        store.storage.set_trial_user_attr(
            store.trial_id(store.study, retry.number), "worker", dead_worker()
        )
    assert store.recover() == [retry.number]
    trials = store.study.trials
    assert [t.number for t in trials if t.state == TrialState.WAITING] == []
    assert trials[retry.number].state == TrialState.FAIL
    assert trials[retry.number].user_attrs["reason"].endswith("not retried again")
    store.recover()
    assert len(store.study.trials) == len(trials)
    store.close()


def test_a_finished_trial_is_never_told_twice(tmp_path: Path) -> None:
    """A trial failed as dead by another process (across machines, after the grace period)
    is not overwritten by its own process's late result."""
    from speechnas.search.store import TakenOver

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = _store(url)
    with store.lock.hold():
        trial = store.ask()
        trial.suggest_int("x", 0, 3)
    trial_id = store.trial_id(store.study, trial.number)
    store.heartbeat.discard(trial_id)  # its heartbeat stops, as a frozen machine's would
    stale = {**store.worker.record(), "machine": "elsewhere", "beat": 0.0}
    store.storage.set_trial_user_attr(trial_id, "worker", stale)
    other = _store(url)
    assert other.recover() == [trial.number]
    with pytest.raises(TakenOver, match=f"trial {trial.number} was marked FAIL"):
        store.tell(trial, 0.5)
    assert store.study.trials[trial.number].state == TrialState.FAIL
    store.close()
    other.close()


def test_a_trial_this_process_let_go_of_is_retried(tmp_path: Path) -> None:
    """A search ended by an exception and run again in the same Python process."""
    store = _store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.lock.hold():
        trial = store.ask()
        trial.suggest_int("x", 0, 3)
    assert store.recover() == []  # held: alive
    store.close()  # the run ends (an exception) without finishing it: failed as interrupted
    again = _store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert again.study.trials[trial.number].user_attrs["reason"] == "interrupted"
    again.recover()
    retries = [t for t in again.study.trials if t.user_attrs.get("retry_of") == trial.number]
    assert [t.state for t in retries] == [TrialState.WAITING]


def test_a_trial_whose_twin_was_taken_over_is_failed_whole_and_retried(tmp_path: Path) -> None:
    """Its twin failed as dead elsewhere, the trial itself is not left running for ever."""
    from speechnas.search.store import TakenOver

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = _store(url)
    with store.lock.hold():
        trial = store.ask()
        trial.suggest_int("x", 0, 3)
        twin = store.ask(store.fidelity)
    twin_id = store.trial_id(store.fidelity, twin.number)
    store.heartbeat.discard(twin_id)  # the twin's beats stopped (a failed write, say)
    stale = {**store.worker.record(), "machine": "elsewhere", "beat": 0.0}
    store.storage.set_trial_user_attr(twin_id, "worker", stale)
    other = _store(url)
    assert other.recover() == []  # the trial itself is alive; its twin is failed
    with pytest.raises(TakenOver):
        store.tell(twin, 0.5, study=store.fidelity)
    assert store.abandon() == [trial.number]
    assert store.study.trials[trial.number].user_attrs["reason"] == "interrupted"
    other.recover()
    assert [t.user_attrs.get("retry_of") for t in store.study.trials].count(trial.number) == 1
    store.close()
    other.close()


def test_a_zombie_or_an_unknown_machine_is_no_proof_of_life() -> None:
    here = Worker.here()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    record = Worker(here.machine, proc.pid, liveness._started(proc.pid)).record()
    while liveness._stat(proc.pid)[:1] != ["Z"]:  # ended, not yet reaped
        time.sleep(0.01)
    assert is_dead(record, here)
    proc.wait()
    # Without /proc (the machine unknown), the heartbeat decides, even on this machine.
    blind = Worker("", here.pid, "")
    assert not is_dead({**here.record(), "machine": ""}, blind)
    assert is_dead({**here.record(), "machine": "", "beat": 0.0}, blind)


def test_searches_starting_at_once_on_a_new_database_create_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    go = tmp_path / "go"
    code = (
        "import sys, time, pathlib\n"
        "from speechnas.search.store import SearchStore\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.01)\n"
        f"SearchStore({url!r}, 's', ('wer',), {{'n_trials': 2, 'seed': int(sys.argv[1])}})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, "0"]) for _ in range(3)]
    go.touch()
    assert [p.wait(timeout=DEADLINE_S) for p in procs] == [0, 0, 0]
    # One config, and a search of another one is refused by it.
    with pytest.raises(Exception, match=r"differs in \['seed'\]"):
        SearchStore(url, "s", ("wer",), {"n_trials": 2, "seed": 1})
