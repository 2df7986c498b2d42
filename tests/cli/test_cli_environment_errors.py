"""Problems of the machine (a read-only folder, a full disk) and files that are not
checkpoints: exit 2 with one line naming the file, no traceback, finished work kept."""

from __future__ import annotations

import builtins
import errno
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from tests.train.test_checkpoint import write_checkpoint

from speechnas.cli import main
from speechnas.data.manifest import write_manifest
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.testing.search import tiny_search
from speechnas.train import load_checkpoint


def _refuse_writes_under(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make writes under ``folder`` fail as on a folder without write permission, for a
    process (root) that the permission bits do not stop."""
    root = folder.resolve()

    def under(path: Any) -> bool:
        return not isinstance(path, int) and Path(os.fsdecode(path)).resolve().is_relative_to(root)

    def denied(path: Any) -> PermissionError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    real_open, real_os_open, real_mkdir = io.open, os.open, os.mkdir

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+") and under(file):
            raise denied(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(path):
            raise denied(path)
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if under(path) and not os.path.exists(path):
            raise denied(path)
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """``read_only(folder)`` takes write permission away from ``folder`` and what is in it."""
    folders: list[Path] = []

    def make(folder: Path) -> None:
        folders.append(folder)
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        if os.geteuid() == 0:  # root writes whatever the permission bits say
            _refuse_writes_under(folder, monkeypatch)

    yield make
    monkeypatch.undo()
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _one_line(err: str, *parts: str) -> None:
    assert err.count("\n") == 1 and err.startswith("speechnas: error: "), err
    assert "Traceback" not in err and all(part in err for part in parts), err


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write_manifest(
            make_corpus(tmp_path / "train", n=6, seed=0), tmp_path / "t.jsonl"
        ),
        "dev": write_manifest(make_corpus(tmp_path / "dev", n=2, seed=1), tmp_path / "d.jsonl"),
    }


def _train_config(tmp_path: Path, corpus: dict[str, Path], out: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(
        f"train_manifest: {corpus['train']}\ndev_manifest: {corpus['dev']}\nout_dir: {out}\n"
        "arch: {n_mels: 40, layers: [{width: 16, heads: 2, kernel: 3}]}\n"
        "max_epochs: 2\nbatch_seconds: 6.0\nthreads: 1\nspeed_perturb: [1.0]\n"
    )
    return path


def test_search_into_a_read_only_run_folder(
    tmp_path: Path, read_only: Callable[[Path], None], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump(tiny_search(tmp_path)))
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "notes.txt").write_text("kept")
    read_only(run)
    assert main(["search", "--config", str(config), "--no-progress"]) == 2
    _one_line(capsys.readouterr().err, str(run), "Permission denied")
    assert _snapshot(run) == {"notes.txt": b"kept"}


def test_train_into_a_read_only_folder(
    tmp_path: Path,
    corpus: dict[str, Path],
    read_only: Callable[[Path], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    read_only(out)
    assert main(["train", "--config", str(_train_config(tmp_path, corpus, out))]) == 2
    _one_line(capsys.readouterr().err, str(out), "Permission denied")
    assert list(out.iterdir()) == []


def test_a_full_disk_while_training_keeps_the_last_checkpoint(
    tmp_path: Path,
    corpus: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    config = _train_config(tmp_path, corpus, out)
    real_save = torch.save

    def disk_full_after_epoch_1(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(obj, dict) and obj.get("epoch", 0) >= 2:
            f.write(b"PK\x03\x04 the first bytes")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_after_epoch_1)
    assert main(["train", "--config", str(config), "--no-progress"]) == 2
    _one_line(capsys.readouterr().err, str(out), ".pt", "No space left on device")
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert not list(out.glob("*.tmp"))
    # Space freed: the run goes on from the checkpoint it kept.
    monkeypatch.setattr(torch, "save", real_save)
    assert main(["train", "--config", str(config), "--resume", "auto", "--no-progress"]) == 0
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return write_checkpoint(tmp_path / "best.pt")


def _text_file(checkpoint: Path) -> Path:
    notes = checkpoint.with_name("notes.txt")
    notes.write_text("what the run was for\n")
    return notes


def _cut_in_half(checkpoint: Path) -> Path:
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    return checkpoint


@pytest.mark.parametrize("damage", [_text_file, _cut_in_half])
@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_a_file_that_is_not_a_checkpoint(
    checkpoint: Path,
    corpus: dict[str, Path],
    damage: Callable[[Path], Path],
    command: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = damage(checkpoint)
    out = checkpoint.parent / "out"
    options = {
        "evaluate": ["--test", str(corpus["dev"])],
        "export": ["--out", str(out)],
    }[command]
    assert main([command, "--checkpoint", str(bad), *options]) == 2
    _one_line(capsys.readouterr().err, f"{bad}: not a checkpoint")
    assert not out.exists()


def test_a_full_disk_during_a_trial_stops_the_search_and_keeps_the_trial_for_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not five failed trials and a traceback: every trial would fail the same way."""
    import optuna

    from speechnas.search import evaluation

    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(tiny_search(tmp_path, n_trials=2)))
    full = tmp_path / "runs" / "tiny" / "trials" / "0000" / "last.pt"

    def no_space(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(full))

    monkeypatch.setattr(evaluation, "train_ladder", no_space)
    assert main(["search", "--config", str(path), "--no-progress"]) == 2
    assert f"speechnas: error: {full}: No space left on device" in capsys.readouterr().err
    db = f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'study.db'}"
    (trial,) = optuna.load_study(study_name="tiny", storage=db).get_trials()
    assert trial.state == optuna.trial.TrialState.FAIL  # interrupted: retried on resume
    assert trial.user_attrs["reason"] == "interrupted"

    monkeypatch.undo()  # space again: the same command retries it and finishes
    assert main(["search", "--config", str(path), "--no-progress"]) == 0
    trials = optuna.load_study(study_name="tiny", storage=db).get_trials()
    assert [t.user_attrs.get("retry_of") for t in trials].count(0) == 1
    assert sum(t.state.is_finished() and t.state.name != "FAIL" for t in trials) == 2
