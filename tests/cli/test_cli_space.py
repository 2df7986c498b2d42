from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.arch import ArchSpec
from speechnas.cli import main
from speechnas.space import SpeechSpace


def test_count_prints_the_exact_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "count"]) == 0
    assert capsys.readouterr().out.strip() == str(SpeechSpace().count())
    assert main(["space", "count", "--streaming", "both", "--by-family"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(SpeechSpace(streaming="both").count())
    assert any(line.startswith("conformer") and "streaming" in line for line in lines)


def test_count_reads_a_space_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "space.yaml"
    cfg.write_text(
        "encoders: [lstm]\nwidths: [64, 128]\nmin_layers: 1\nmax_layers: 2\n"
        "frontends: [logmel]\nn_mels: [80]\nsubsamplings: [conv2d]\n"
        "subsampling_factors: [4]\ntime_reduction: false\ndecoders: [ctc]\n"
    )
    assert main(["space", "count", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip() == "6"


def test_bad_space_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "space.yaml"
    cfg.write_text("widths: [64]\nwidht: [3]\n")
    assert main(["space", "count", "--config", str(cfg)]) == 2
    assert "widht" in capsys.readouterr().err
    cfg.write_text("kernels: [4]\n")
    assert main(["space", "count", "--config", str(cfg)]) == 2
    assert "kernel=4" in capsys.readouterr().err


def test_sample_is_seeded_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "sample", "-n", "3", "--seed", "4", "--json"]) == 0
    first = capsys.readouterr().out
    assert main(["space", "sample", "-n", "3", "--seed", "4", "--json"]) == 0
    assert capsys.readouterr().out == first
    for line in first.strip().splitlines():
        row = json.loads(line)
        spec = ArchSpec.from_dict(row["spec"])
        assert spec.arch_id == row["arch_id"] and SpeechSpace().contains(spec)


def test_sample_stats_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    cfg_args = ["--streaming", "on"]
    assert main(["space", "sample", "-n", "1", "--stats", *cfg_args]) == 0
    out = capsys.readouterr().out
    assert "params" in out and "MMAC/s" in out and "streaming" in out
    assert main(["space", "show"]) == 0
    out = capsys.readouterr().out
    assert "widths" in out and "exact count: " + str(SpeechSpace().count()) in out
