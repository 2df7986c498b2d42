"""Data that cannot be used: the CLI exits 2 naming the set or file, never scores nothing 0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechnas.cli import main
from speechnas.data.manifest import Utterance, read_manifest, write_manifest
from speechnas.testing.audio_fixtures import make_bad_files, make_corpus

ARCH = "arch: {n_mels: 40, layers: [{width: 16, heads: 2, kernel: 3}]}\n"


def _config(path: Path, train: Path, dev: Path | None, out: Path) -> Path:
    dev_line = f"dev_manifest: {dev}\n" if dev else ""
    path.write_text(
        f"train_manifest: {train}\n{dev_line}out_dir: {out}\n{ARCH}"
        "max_epochs: 1\nbatch_seconds: 6.0\nthreads: 1\nspeed_perturb: [1.0]\n"
    )
    return path


def _unusable(root: Path) -> Path:
    """Every clip unusable: an empty file, not audio, zero samples, a punctuation-only text."""
    bad = {u.id: u for u in make_bad_files(root / "bad")}
    zero = root / "zero.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    (clip,) = make_corpus(root / "clip", n=1, seed=5)
    utts = [
        bad["bad_empty"],
        bad["bad_text"],
        Utterance("zero", str(zero), 0.0, "yes", "s"),
        Utterance("punct", clip.audio_path, clip.duration, "?! ...", "s"),
    ]
    return write_manifest(utts, root / "unusable.jsonl")


def _with_null_text(root: Path) -> Path:
    """A manifest whose second line has ``"text": null``."""
    utts = make_corpus(root / "null", n=2, seed=4)
    lines = [json.loads(u.to_json()) for u in utts]
    lines[1]["text"] = None
    path = root / "null.jsonl"
    path.write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trained")
    train = write_manifest(make_corpus(root / "train", n=6, seed=0), root / "train.jsonl")
    config = _config(root / "c.yaml", train, None, root / "run")
    assert main(["train", "--config", str(config), "--no-progress"]) == 0
    return {"train": train, "checkpoint": root / "run" / "last.pt"}


def test_train_with_an_unscorable_dev_set_exits_2(
    trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = _unusable(tmp_path)
    config = _config(tmp_path / "c.yaml", trained["train"], dev, tmp_path / "run")
    assert main(["train", "--config", str(config), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert f"dev set {dev}: nothing to score: all 4 utterance(s) were skipped" in captured.err
    assert "dev WER" not in captured.out
    assert not (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize("content", ["empty", "unusable"])
def test_evaluate_on_a_set_with_nothing_to_score_exits_2(
    trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    if content == "empty":
        manifest = tmp_path / "empty.jsonl"
        manifest.write_text("")
        why = "the set has no utterances"
    else:
        manifest = _unusable(tmp_path)
        why = "all 4 utterance(s) were skipped"
    results = tmp_path / "results.json"
    argv = ["evaluate", "--checkpoint", str(trained["checkpoint"]), "--test", f"x={manifest}"]
    assert main([*argv, "--out", str(results), "--rtf-utterances", "1"]) == 2
    err = capsys.readouterr().err
    assert f"test set x ({manifest}): nothing to score: {why}" in err
    assert not results.exists()


def test_a_null_transcript_is_an_error_naming_file_and_line(
    trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _with_null_text(tmp_path)
    commands = [
        ["data", "validate", str(manifest)],
        ["data", "stats", str(manifest)],
        ["evaluate", "--checkpoint", str(trained["checkpoint"]), "--test", str(manifest)],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert f"{manifest}:2: " in captured.err, argv
        assert "text must be a string, got null" in captured.err, argv
        assert "Traceback" not in captured.err and "no problems" not in captured.out


def test_train_skips_an_overlong_clip_and_names_the_reason(
    trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    utts = read_manifest(trained["train"])
    wave = np.concatenate([sf.read(u.audio_path, dtype="float32")[0] for u in utts])
    long_wav = tmp_path / "long.wav"
    sf.write(long_wav, wave, 16000, subtype="PCM_16")  # 7.8 s
    long = Utterance("long", str(long_wav), wave.size / 16000, "yes no", "s")
    train = write_manifest([*utts, long], tmp_path / "train.jsonl")
    config = _config(tmp_path / "c.yaml", train, None, tmp_path / "run")
    argv = ["train", "--config", str(config), "--no-progress"]
    assert main([*argv, "--set", "max_utterance_seconds=5"]) == 0
    assert "  long: too long\n" in capsys.readouterr().out
    assert main(["data", "validate", str(train), "--max-seconds", "5"]) == 2
    assert f"{long_wav}: too long (7.8 s, over the limit of 5 s)" in capsys.readouterr().out


def test_prepare_follows_the_source_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    utts = make_corpus(tmp_path / "c", n=3)
    src = write_manifest(utts, tmp_path / "src.jsonl")
    argv = ["data", "prepare", str(src), "--out", str(tmp_path / "out" / "m.jsonl.gz")]
    assert main(argv) == 0
    assert "3 utterances" in capsys.readouterr().out
    write_manifest(utts[:2], src)
    assert main(argv) == 0
    assert "2 utterances" in capsys.readouterr().out
    assert len(read_manifest(tmp_path / "out" / "m.jsonl.gz")) == 2


def test_evaluate_shows_each_language_of_a_mixed_set(
    trained: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses
    import json

    from speechnas.data.manifest import read_manifest

    utts = read_manifest(trained["train"])
    mixed = [dataclasses.replace(u, language="de" if i % 2 else "en") for i, u in enumerate(utts)]
    manifest = write_manifest(mixed, tmp_path / "mixed.jsonl")
    results = tmp_path / "results.json"
    monkeypatch.setenv("COLUMNS", "200")
    argv = ["evaluate", "--checkpoint", str(trained["checkpoint"]), "--test", f"m={manifest}"]
    assert main([*argv, "--out", str(results), "--rtf-utterances", "0"]) == 0
    out = capsys.readouterr().out
    assert "  de " in out and "  en " in out
    scored = json.loads(results.read_text())["sets"]["m"]["languages"]
    assert sorted(scored) == ["de", "en"] and scored["de"]["utterances"] == 3
