"""A search killed with SIGKILL in the middle of a trial resumes to its budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from speechnas.cli import main
from speechnas.testing.search import tiny_search


def _trials(db: Path) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    return optuna.load_study(study_name="tiny", storage=storage).get_trials()


DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def _start(config: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from speechnas.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "search", "--config", str(config), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_then_resume_keeps_finished_trials_and_reaches_the_budget(
    tmp_path: Path,
) -> None:
    config = tiny_search(tmp_path, n_trials=6, final={"top_k": 0, "epochs": 1})
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(config))
    db = tmp_path / "runs" / "tiny" / "study.db"

    proc = _start(path)
    deadline = time.monotonic() + 240
    killed_while_running = False
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if not db.exists():
            continue
        try:
            trials = _trials(db)
        except Exception:  # the database is being created
            continue
        finished = [t for t in trials if t.state in DONE]
        # Mid-trial: its architecture is recorded, so it is measuring or training.
        running = [
            t for t in trials if t.state == TrialState.RUNNING and "arch_id" in t.user_attrs
        ]
        if len(finished) >= 2 and running:
            os.kill(proc.pid, signal.SIGKILL)
            killed_while_running = True
            break
    proc.wait(timeout=30)
    assert killed_while_running, "the search ended before it could be killed mid-trial"
    before = {t.number: t for t in _trials(db) if t.state in DONE}
    interrupted = [t.number for t in _trials(db) if t.state == TrialState.RUNNING]
    assert len(interrupted) == 1

    assert main(["search", "--config", str(path), "--no-progress"]) == 0

    after = {t.number: t for t in _trials(db)}
    for number, t in before.items():  # every finished trial kept as it was
        assert after[number].state == t.state
        assert after[number].values == t.values
        assert after[number].user_attrs["arch_id"] == t.user_attrs["arch_id"]
    (gone,) = interrupted
    assert after[gone].state == TrialState.FAIL
    assert after[gone].user_attrs["reason"] == "interrupted"
    retries = [t for t in after.values() if t.user_attrs.get("retry_of") == gone]
    assert len(retries) == 1 and retries[0].state in DONE
    assert retries[0].user_attrs["arch_id"] == after[gone].user_attrs["arch_id"]
    assert sum(t.state in DONE for t in after.values()) == 6

    # The same proposals, in the same order, as a search that was never interrupted.
    other = tiny_search(tmp_path / "clean", n_trials=6, final={"top_k": 0, "epochs": 1})
    other_path = tmp_path / "clean.yaml"
    other_path.write_text(yaml.safe_dump(other))
    assert main(["search", "--config", str(other_path), "--no-progress"]) == 0
    clean = _trials(tmp_path / "clean" / "runs" / "tiny" / "study.db")
    resumed = [t for t in sorted(after.values(), key=lambda t: t.number) if t.number != gone]
    assert [t.user_attrs["arch_id"] for t in resumed] == [t.user_attrs["arch_id"] for t in clean]
