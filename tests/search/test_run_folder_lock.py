"""A run folder belongs to one process: a search holds it from its first trial to its report
(final stage included), a training holds its out_dir. Another process there is refused by
name, and the first one's results are not touched.

The first process stops itself in the state under test
(:mod:`speechnas.testing.processes`), so the second one meets it there whatever the machine's
speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from speechnas.cli import main
from speechnas.data.manifest import write_manifest
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.testing.processes import resume, start_cli, wait_stopped
from speechnas.testing.search import tiny_search


def _epochs(history: Path) -> list[float]:
    return [json.loads(line)["epoch"] for line in history.read_text().splitlines()]


def test_a_search_in_its_final_stage_keeps_its_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "search.yaml"
    config = tiny_search(tmp_path, n_trials=2, final={"top_k": 1, "epochs": 6})
    path.write_text(yaml.safe_dump(config))
    final = tmp_path / "runs" / "tiny" / "final"
    log = tmp_path / "first.log"
    argv = ["search", "--config", str(path), "--no-progress"]
    # It stops as the final stage starts retraining (the search's trials train through the
    # ladder, not through this name).
    first = start_cli(argv, log, stop_before="speechnas.search.final:train")
    wait_stopped(first, log)
    try:
        assert main(["search", "--config", str(path), "--no-progress"]) == 2
        assert "another search is running in" in capsys.readouterr().err
    finally:
        resume(first)
    assert first.wait() == 0, log.read_text()
    (history,) = final.glob("*/history.jsonl")
    assert _epochs(history) == [1, 2, 3, 4, 5, 6]  # one training's epochs, none interleaved


def test_a_training_keeps_its_out_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_manifest(make_corpus(tmp_path / "train", n=10, seed=0), tmp_path / "t.jsonl")
    dev = write_manifest(make_corpus(tmp_path / "dev", n=3, seed=1), tmp_path / "d.jsonl")
    out = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"train_manifest: {train}\ndev_manifest: {dev}\nout_dir: {out}\n"
        "arch: {n_mels: 40, layers: [{width: 16, heads: 2, kernel: 3}]}\n"
        "max_epochs: 6\nbatch_seconds: 6.0\nthreads: 1\n"
    )
    log = tmp_path / "first.log"
    # It stops at the end of its first epoch, out_dir in hand.
    argv = ["train", "--config", str(config), "--no-progress"]
    first = start_cli(argv, log, stop_before="speechnas.train.loop:_Run.end_epoch")
    wait_stopped(first, log)
    try:
        argv = ["train", "--config", str(config), "--overwrite", "--no-progress"]
        assert main(argv) == 2
        assert f"another training is running in {out}" in capsys.readouterr().err
    finally:
        resume(first)
    assert first.wait() == 0, log.read_text()
    assert _epochs(out / "history.jsonl") == [1, 2, 3, 4, 5, 6]
    assert (out / "best.pt").is_file()
