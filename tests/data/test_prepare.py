from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.cli import main
from speechnas.data import prepare as prepare_module
from speechnas.data.manifest import Utterance, read_manifest, write_manifest
from speechnas.data.prepare import marker_path, prepare
from speechnas.data.readers import ReadResult
from speechnas.errors import UserError

from ._corpora import make_kaldi, make_nemo, write_tone


def test_prepare_writes_manifest_and_marker(tmp_path: Path) -> None:
    src = make_kaldi(tmp_path / "k")
    out = tmp_path / "out" / "train.jsonl.gz"
    utts = prepare(src, out)
    assert read_manifest(out) == utts and [u.id for u in utts] == ["u1", "u2"]
    marker = json.loads(marker_path(out).read_text())
    assert marker["source"] == str(src) and marker["format"] == "kaldi"


def test_prepare_rerun_is_a_noop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_kaldi(tmp_path / "k")
    out = tmp_path / "train.jsonl.gz"
    first = prepare(src, out)
    stamp = out.stat().st_mtime_ns

    def must_not_read(*args: object, **kwargs: object) -> ReadResult:
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(prepare_module, "read_corpus", must_not_read)
    assert prepare(src, out) == first
    assert out.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    # other arguments rebuild
    assert {u.language for u in prepare(src, out, language="fr")} == {"fr"}
    assert {u.language for u in read_manifest(out)} == {"fr"}


def test_prepare_fills_unknown_durations(tmp_path: Path) -> None:
    wav = write_tone(tmp_path / "a.wav", 0.25)
    src = write_manifest([Utterance("a", str(wav), 0.0, "x", "s")], tmp_path / "in.jsonl")
    (utt,) = prepare(src, tmp_path / "out.jsonl")
    assert utt.duration == pytest.approx(0.25)


def test_cli_prepare_stats_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_nemo(tmp_path / "corpus")
    out = tmp_path / "m.jsonl.gz"
    assert main(["data", "prepare", str(tmp_path / "corpus"), "--out", str(out)]) == 0
    assert "4 utterances" in capsys.readouterr().out
    assert main(["data", "stats", str(out)]) == 0
    assert "utterances" in capsys.readouterr().out
    split_dir = tmp_path / "split"
    argv = ["data", "split", str(out), "--dev-fraction", "0.25", "--seed", "0"]
    assert main([*argv, "--out-dir", str(split_dir)]) == 0
    printed = capsys.readouterr().out
    assert "speaker overlap: 0" in printed
    train, dev = (
        read_manifest(split_dir / "train.jsonl.gz"),
        read_manifest(split_dir / "dev.jsonl.gz"),
    )
    assert len(train) + len(dev) == 4 and dev
    assert not {u.speaker for u in train} & {u.speaker for u in dev}


def test_cli_prepare_errors_name_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "m.jsonl")
    assert main(["data", "prepare", str(tmp_path / "nope"), "--out", out]) == 2
    assert str(tmp_path / "nope") in capsys.readouterr().err
    assert main(["data", "prepare", str(tmp_path), "--out", out]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert main(["data", "stats", str(tmp_path), "--format", "wav"]) == 2
    assert "unknown format 'wav'" in capsys.readouterr().err


def test_prepare_rerun_with_output_inside_the_source(tmp_path: Path) -> None:
    # The output lands next to the corpus's own manifest; a re-run must still be a no-op
    # rather than trip over two manifests when detecting the format.
    src = tmp_path / "corpus"
    make_nemo(src)
    (src / "manifest.jsonl").rename(src / "train.jsonl")
    out = src / "canonical.jsonl.gz"
    first = prepare(src, out)
    assert prepare(src, out) == first


def test_an_edited_manifest_is_prepared_again(tmp_path: Path) -> None:
    wav = write_tone(tmp_path / "a.wav", 0.25)
    src = write_manifest([Utterance("a", str(wav), 0.25, "yes", "s")], tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    prepare(src, out)
    # Same size, same path: only the content tells the edit apart.
    write_manifest([Utterance("a", str(wav), 0.25, "yep", "s")], src)
    assert [u.text for u in prepare(src, out)] == ["yep"]
    assert [u.text for u in read_manifest(out)] == ["yep"]


def test_an_edited_corpus_folder_is_prepared_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_kaldi(tmp_path / "k")
    out = src / "prepared.jsonl.gz"  # inside the corpus: it must not count as a change
    prepare(src, out)
    calls = {"n": 0}
    read_corpus = prepare_module.read_corpus

    def counting(*args: object, **kwargs: object) -> ReadResult:
        calls["n"] += 1
        return read_corpus(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(prepare_module, "read_corpus", counting)
    prepare(src, out)
    assert calls["n"] == 0
    (src / "text").write_text("u1 HELLO THERE\nu2 GOOD  BYE\n", encoding="utf-8")
    assert {u.id: u.text for u in prepare(src, out)}["u1"] == "HELLO THERE"
    assert calls["n"] == 1
    write_tone(src / "wav" / "u1.wav", 0.75)  # new audio: its duration is read again
    assert {u.id: u.duration for u in prepare(src, out)}["u1"] == pytest.approx(0.75)
    assert calls["n"] == 2


def test_prepare_keeps_the_languages_asked_for(tmp_path: Path) -> None:
    from ._corpora import make_commonvoice

    make_kaldi(tmp_path / "cv" / "de")
    make_commonvoice(tmp_path / "cv" / "fr", locale=False)
    out = tmp_path / "de.jsonl.gz"
    utts = prepare(tmp_path / "cv", out, languages=["de"])
    assert utts and {u.language for u in utts} == {"de"}
    both = prepare(tmp_path / "cv", tmp_path / "both.jsonl.gz")
    assert {u.language for u in both} == {"de", "fr"}
    with pytest.raises(UserError, match="no utterance of language xx; it has de, fr"):
        prepare(tmp_path / "cv", tmp_path / "xx.jsonl.gz", languages=["de", "xx"])
