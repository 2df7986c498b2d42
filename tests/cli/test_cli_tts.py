"""``speechnas tts``: prepare a corpus (aligner trained here), train, score, listen; user
errors exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.cli import main
from speechnas.data.manifest import write_manifest
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.tts import TTSCorpus


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_prepare_then_train_writes_a_scored_model_and_a_listening_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(make_corpus(tmp_path / "audio", n=8), tmp_path / "m.jsonl")
    corpus = tmp_path / "corpus.pt"
    assert (
        main(["tts", "prepare", str(manifest), "--out", str(corpus), "--aligner-steps", "2"]) == 0
    )
    assert (tmp_path / "corpus.aligner" / "last.pt").exists()
    assert len(TTSCorpus.load(corpus)) == 8
    out = tmp_path / "model"
    argv = ["tts", "train", str(corpus), "--out", str(out), "--steps", "3", "--held-out", "2"]
    assert main([*argv, "--intelligibility", "1", "--no-export"]) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert scores["sentences"] == 2 and scores["cer"] is not None and scores["mcd_db"] > 0
    assert (out / "model.pt").exists() and (out / "listen" / "index.html").exists()
    assert "held out (2): MCD" in capsys.readouterr().out
    assert main([*argv, "--preset", "tacotron"]) == 2
    assert "unknown TTS preset 'tacotron'" in capsys.readouterr().err
    assert main(["tts", "train", str(corpus), "--out", str(out), "--held-out", "8"]) == 2
    assert main(["tts", "train", str(manifest), "--out", str(out)]) == 2  # not a corpus


def test_a_spec_that_does_not_fit_a_corpus_and_a_bad_manifest_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from speechnas.arch.tts import TTSSpec

    (tmp_path / "spec.json").write_text(
        json.dumps(TTSSpec(n_mels=20, text_units="char").to_dict())
    )
    (tmp_path / "phones.json").write_text(json.dumps(TTSSpec().to_dict()))
    (tmp_path / "corpus.pt").write_text("not read: the spec is checked first")
    base = ["tts", "train", str(tmp_path / "corpus.pt"), "--out", str(tmp_path / "o")]
    assert main([*base, "--spec", str(tmp_path / "spec.json")]) == 2
    assert "n_mels=20; a TTS corpus has 80 bands" in capsys.readouterr().err
    assert main([*base, "--spec", str(tmp_path / "phones.json")]) == 2
    assert "text_units='phoneme'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # argparse: one or the other
        main([*base, "--spec", str(tmp_path / "spec.json"), "--preset", "lightspeech"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main([*base, "--intelligibility", "-1"])
    assert exited.value.code == 2
    missing = str(tmp_path / "missing.jsonl")
    assert main(["tts", "prepare", missing, "--out", str(tmp_path / "c.pt")]) == 2
