from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.cli import main
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.testing.audio_fixtures import make_bad_files, make_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    train = make_corpus(tmp_path / "train", n=10, seed=0) + make_bad_files(tmp_path / "bad")
    dev = make_corpus(tmp_path / "dev", n=3, seed=1)
    return {
        "train": write_manifest(train, tmp_path / "train.jsonl"),
        "dev": write_manifest(dev, tmp_path / "dev.jsonl"),
    }


def _write_config(path: Path, corpus: dict[str, Path], out: Path, extra: str = "") -> Path:
    path.write_text(
        f"train_manifest: {corpus['train']}\n"
        f"dev_manifest: {corpus['dev']}\n"
        f"out_dir: {out}\n"
        "arch: {n_mels: 40, layers: [{width: 16, heads: 2, kernel: 3}]}\n"
        "max_epochs: 1\nbatch_seconds: 6.0\nthreads: 1\n" + extra
    )
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert "speechnas" in capsys.readouterr().out


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("data", "train", "evaluate", "demo"):
        assert cmd in out


def test_train_then_evaluate(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write_config(tmp_path / "c.yaml", corpus, tmp_path / "run")
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "skipped 4 utterance(s)" in out
    for utt in ("bad_truncated", "bad_empty", "bad_text", "bad_missing"):
        assert utt in out
    results = tmp_path / "results.json"

    def evaluate(*tests: str) -> int:
        test_args = [a for t in tests for a in ("--test", t)]
        checkpoint = str(tmp_path / "run" / "last.pt")
        options = ["--out", str(results), "--rtf-utterances", "2"]
        return main(["evaluate", "--checkpoint", checkpoint, *test_args, *options])

    dev_set = f"dev={corpus['dev']}"
    assert evaluate(dev_set, dev_set) == 2  # the same name twice is a user error
    code = evaluate(dev_set)
    assert code == 0
    payload = json.loads(results.read_text())
    dev = payload["sets"]["dev"]
    assert dev["utterances"] == len(read_manifest(corpus["dev"]))
    assert 0.0 <= dev["cer"] and dev["rtf"] > 0
    assert payload["params"] > 0


def test_train_user_errors_exit_2(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write_config(tmp_path / "c.yaml", corpus, tmp_path / "run", extra="bogus_key: 1\n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "bogus_key" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--test", "x.jsonl"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "split", "m.jsonl", "--dev-fraction", "1.5", "--out-dir", "x"],
        ["data", "validate", "m.jsonl", "--workers", "0"],
        ["demo", "--epochs", "0"],
        ["train", "--config", "c.yaml", "--set", "x=["],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("train_manifest: m.jsonl\n")
    argv = [str(tmp_path / a) if a in ("m.jsonl", "c.yaml", "x") else a for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse rejects bad values itself, with exit 2
        code = int(e.code or 0)
    assert code == 2


def test_non_utf8_manifest_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"id": "\xff\xfe"}\n')
    assert main(["data", "stats", str(path)]) == 2
    assert main(["train", "--config", str(_cfg(tmp_path, path))]) == 2


def _cfg(tmp_path: Path, manifest: Path) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"train_manifest: {manifest}\nout_dir: {tmp_path / 'run'}\n")
    return cfg


def test_fresh_run_refuses_to_mix_with_an_earlier_one(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    cfg = _write_config(tmp_path / "c.yaml", corpus, tmp_path / "run")
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 2
    assert main(["train", "--config", str(cfg), "--no-progress", "--resume", "auto"]) == 0
    # A resume with a changed training key (not a budget) is refused.
    assert main(["train", "--config", str(cfg), "--resume", "auto", "--set", "lr=0.1"]) == 2
    assert main(["train", "--config", str(cfg), "--no-progress", "--overwrite"]) == 0
