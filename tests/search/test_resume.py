"""A search killed with SIGKILL in the middle of its work resumes to its budget, for every
strategy, and proposes what the uninterrupted search proposes.

The kill waits for a state, not for a time: the search runs in a child process that stops
itself at a chosen call (:mod:`speechnas.testing.processes`), and is killed there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import FrozenTrial, TrialState

from speechnas.cli import main
from speechnas.testing.processes import start_cli, wait_stopped
from speechnas.testing.search import tiny_search

DONE = (TrialState.COMPLETE, TrialState.PRUNED)

#: Fixed macro architecture with elastic layers, which the weight-sharing strategies need.
WEIGHT_SHARING_SPACE = {
    "encoders": ["conformer"],
    "min_layers": 1,
    "max_layers": 2,
    "widths": [16, 32],
    "kernels": [3, 5],
    "heads": [2],
    "ffn_expansions": [1.0, 2.0],
}

#: Each strategy with options that make it learn from the first finished trials.
STRATEGIES: dict[str, dict[str, Any]] = {
    "random": {},
    "grid": {},
    "tpe": {"n_startup_trials": 1},
    "gp": {"n_startup_trials": 1},
    "nsga2": {"population": 2},
    "evolution": {"population": 2, "sample_size": 2},
    "rl": {},
    "transfer": {},
    "supernet": {"train_steps": 3, "population": 3, "sample_size": 2, "split_depth": False},
    "darts": {"train_steps": 2},
}


def _trials(db: Path, name: str = "tiny") -> list[FrozenTrial]:
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def _config(root: Path, strategy: str) -> dict[str, Any]:
    config = tiny_search(
        root,
        strategy=strategy,
        strategy_options=STRATEGIES[strategy],
        n_trials=3,
        final={"top_k": 0, "epochs": 1},
    )
    # Two rungs: successive halving decides at the first, so a kill can leave a twin that
    # reported there.
    config["fidelity"]["rungs"] = [{"fraction": 0.5, "epochs": 1}, {"fraction": 1.0, "epochs": 1}]
    if strategy in ("supernet", "darts"):
        config["space"].update(WEIGHT_SHARING_SPACE)
    return config


#: Where each strategy's search is killed: just before this call (numbered from 0). Most
#: strategies: before the fourth rung trained (the first trial's two rungs, then the next
#: trained trial's first: then its second rung, or the first rung of the one after), so a
#: trial has finished and the next is running, its twin often past the pruner's first
#: decision. DARTS (one proposal here): before its only trial's second rung. The supernet:
#: before the second subnet is recorded, mid-scoring.
KILL_POINT = {
    "supernet": ("speechnas.search.supernet_strategy:_Recorder.add", 1),
    "darts": ("speechnas.search.fidelity:train", 1),
}
TRAINING = ("speechnas.search.fidelity:train", 3)


def kill_mid_way(config: Path, strategy: str) -> None:
    """Run the search of ``config`` in a child process and SIGKILL it at its kill point."""
    log = config.with_suffix(".log")
    stop_before, calls = KILL_POINT.get(strategy, TRAINING)
    proc = start_cli(
        ["search", "--config", str(config), "--no-progress"],
        log,
        stop_before=stop_before,
        calls=calls,
    )
    wait_stopped(proc, log)
    proc.kill()
    proc.wait()


def _proposals(trials: list[FrozenTrial]) -> list[tuple[str, Any]]:
    return [
        (t.user_attrs["arch_id"], t.values)
        for t in sorted(trials, key=lambda t: t.number)
        if not t.user_attrs.get("interrupted")
    ]


#: Resumed in every ``make test``: a strategy of ours, Optuna's model-based one, random; the
#: rest (about 10 s each) are run by ``make test-slow`` (and CI).
QUICK = ("evolution", "random", "tpe")


@pytest.mark.parametrize(
    "strategy",
    [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in sorted(STRATEGIES)],
)
def test_sigkill_then_resume_keeps_finished_trials_and_proposes_as_uninterrupted(
    tmp_path: Path, strategy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, strategy)))
    db = tmp_path / "runs" / "tiny" / "study.db"

    kill_mid_way(path, strategy)
    left = _trials(db)
    before = {t.number: t for t in left if t.state in DONE}
    interrupted = [t.number for t in left if t.state == TrialState.RUNNING]
    assert before or strategy == "darts", "killed after a first trial finished"
    if strategy != "supernet":  # its subnets are recorded finished, never running
        assert len(interrupted) == 1, "killed in the middle of a trial"

    assert main(["search", "--config", str(path), "--no-progress"]) == 0
    assert "budget not reached" not in capsys.readouterr().out  # resumed in one go

    after = {t.number: t for t in _trials(db)}
    for number, t in before.items():  # every finished trial kept as it was
        assert after[number].state == t.state
        assert after[number].values == t.values
        assert after[number].user_attrs["arch_id"] == t.user_attrs["arch_id"]
    for gone in interrupted:  # failed as interrupted, retried once, the same architecture
        assert after[gone].state == TrialState.FAIL
        assert after[gone].user_attrs["reason"] == "interrupted: its process died"
        assert after[gone].user_attrs["lost"] is True
        retries = [t for t in after.values() if t.user_attrs.get("retry_of") == gone]
        assert len(retries) == 1 and retries[0].state in DONE
        assert retries[0].user_attrs["arch_id"] == after[gone].user_attrs["arch_id"]
    # Nothing is left running, in the study or in its fidelity twin.
    twins = _trials(db, "tiny.fidelity")
    assert all(t.state != TrialState.RUNNING for t in [*after.values(), *twins])

    # The same proposals, with the same values, as a search that was never interrupted.
    clean_path = tmp_path / "clean.yaml"
    clean_path.write_text(yaml.safe_dump(_config(tmp_path / "clean", strategy)))
    assert main(["search", "--config", str(clean_path), "--no-progress"]) == 0
    clean = _trials(tmp_path / "clean" / "runs" / "tiny" / "study.db")
    assert _proposals(list(after.values())) == _proposals(clean)
    if strategy == "darts":  # one DARTS run proposes one architecture
        assert sum(t.state in DONE for t in after.values()) == 1
    elif strategy != "supernet":  # its budget counts scored subnets, not pruned ones
        assert sum(t.state in DONE for t in after.values()) == 3
