from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.cli import main
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance, write_manifest
from speechnas.data.validate import validate, validate_source
from speechnas.text import build_tokenizer

from ._corpora import write_tone, write_truncated_wav

# What a new user's broken folder holds, and the reason each file must get.
EXPECTED = {
    "truncated.wav": "unreadable",
    "empty.wav": "empty",
    "notes.wav": "not audio",
    "missing.wav": "missing",
}


def make_broken_folder(root: Path, *, manifest_lists: str) -> Path:
    """A good file, a truncated wav, an empty file, a text file named .wav, and a manifest.

    ``manifest_lists`` is ``"all"`` (one line per file, the missing one too) or ``"missing"``
    (a single line naming the missing file; the others lie loose in the folder).
    """
    write_tone(root / "good.wav", 0.5)
    write_truncated_wav(root / "truncated.wav")
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("this is a text file, not audio\n")
    names = ["good.wav", *EXPECTED] if manifest_lists == "all" else ["missing.wav"]
    lines = [
        {"audio_filepath": name, "duration": 0.5, "text": "hello", "speaker": "s"}
        for name in names
    ]
    (root / "manifest.jsonl").write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    return root


@pytest.mark.parametrize("manifest_lists", ["all", "missing"])
def test_cli_validate_lists_the_four_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest_lists: str
) -> None:
    folder = make_broken_folder(tmp_path / "corpus", manifest_lists=manifest_lists)
    code = main(["data", "validate", str(folder)])
    out = capsys.readouterr().out
    assert code == 2
    for name, reason in EXPECTED.items():
        assert f"{folder / name}: {reason}\n" in out, out
    assert "good.wav" not in out
    assert "with problems" in out
    for reason in EXPECTED.values():
        assert f"  {reason}" in out  # the count per reason


def test_cli_validate_plain_folder_skips_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_broken_folder(tmp_path / "plain", manifest_lists="all")
    (folder / "manifest.jsonl").unlink()
    (folder / "README.txt").write_text("not an audio suffix: not checked")
    code = main(["data", "validate", str(folder)])
    out = capsys.readouterr().out
    assert code == 2
    assert f"{folder / 'truncated.wav'}: unreadable" in out
    assert f"{folder / 'empty.wav'}: empty" in out
    assert f"{folder / 'notes.wav'}: not audio" in out
    assert "empty text" not in out and "README" not in out
    assert "checked 4 file(s)" in out


def test_cli_validate_good_corpus_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tone(tmp_path / "a.wav", 0.25)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "a.wav", "text": "hi"}) + "\n")
    assert main(["data", "validate", str(manifest)]) == 0
    assert "no problems" in capsys.readouterr().out


def test_cli_validate_nonexistent_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["data", "validate", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_cli_validate_unknown_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", str(tmp_path), "--format", "bogus"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "bogus" in err


def test_validate_reasons_and_durations(tmp_path: Path) -> None:
    good = write_tone(tmp_path / "good.wav", 0.5)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    utts = [
        Utterance("good", str(good), 0.0, "hi", "s"),
        Utterance("silent", str(good), 0.5, "  ", "s"),
        Utterance("empty", str(empty), 0.0, "", "s"),
    ]
    report = validate(utts, workers=2)
    triples = [(p.utt_id, p.path, p.reason) for p in report.problems]
    assert triples == [
        ("empty", str(empty), "empty"),
        ("empty", str(empty), "empty text"),
        ("silent", str(good), "empty text"),
    ]
    assert report.counts() == {"empty": 1, "empty text": 2}
    assert report.num_checked == 3 and not report.ok
    assert report.durations["good"] == pytest.approx(0.5)
    filled = report.fill_durations(utts)
    assert filled[0].duration == pytest.approx(0.5) and filled[2].duration == 0.0
    # no text check
    assert validate(utts[:2], check_text=False).ok


def test_validate_progress_and_canonical_manifest(tmp_path: Path) -> None:
    wav = write_tone(tmp_path / "a.wav", 0.25)
    manifest = write_manifest([Utterance("a", str(wav), 0.25, "x", "s")], tmp_path / "m.jsonl.gz")
    calls: list[tuple[int, int]] = []
    report = validate_source(manifest, progress=lambda done, total: calls.append((done, total)))
    assert report.ok and calls == [(0, 1), (1, 1)]


def test_validate_rejects_bad_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        validate([], workers=0)


def _declaring(tmp_path: Path, durations: list[str]) -> Path:
    """A canonical manifest of one 0.5 s clip per declared duration, given as JSON text."""
    wav = write_tone(tmp_path / "a.wav", 0.5)
    lines = []
    for i, duration in enumerate(durations):
        record = {"id": f"u{i}", "audio_path": str(wav), "text": "hi", "speaker": "s"}
        lines.append(json.dumps(record)[:-1] + f', "duration": {duration}}}\n')
    path = tmp_path / "m.jsonl"
    path.write_text("".join(lines))
    return path


def test_declared_durations_that_are_absurd_or_wrong_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _declaring(tmp_path, ["1e308", "Infinity", "7.5", "0.5", "0.52", "0.0"])
    report = validate_source(manifest)
    assert report.counts() == {"bad duration": 3}
    assert [p.utt_id for p in report.problems] == ["u0", "u1", "u2"]
    assert main(["data", "validate", str(manifest)]) == 2
    out = capsys.readouterr().out
    assert "bad duration (declared 1e+308 s, decoded 0.500 s)" in out
    assert "bad duration (declared inf s, not a finite number)" in out
    assert "bad duration (declared 7.5 s, decoded 0.500 s)" in out


def test_audio_over_the_training_limit_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _declaring(tmp_path, ["0.5"])
    assert main(["data", "validate", str(manifest)]) == 0  # the default limit is 60 s
    capsys.readouterr()
    assert main(["data", "validate", str(manifest), "--max-seconds", "0.25"]) == 2
    out = capsys.readouterr().out
    assert f"{tmp_path / 'a.wav'}: too long (0.5 s, over the limit of 0.25 s)" in out


def test_validate_and_training_agree_on_transcripts(tmp_path: Path) -> None:
    # Training skips a transcript with no word after normalisation; validate must report it.
    wav = write_tone(tmp_path / "a.wav", 0.5)
    texts = {"words": "Yes, no!", "punctuation": "?! ... --", "blank": " ", "none": ""}
    utts = [Utterance(k, str(wav), 0.5, text, "s") for k, text in texts.items()]
    report = validate(utts)
    assert {p.utt_id for p in report.problems if p.reason == "empty text"} == {
        "punctuation",
        "blank",
        "none",
    }
    tokenizer = build_tokenizer("char", ["yes no"])
    dataset = SpeechDataset(utts, tokenizer)
    assert [dataset.load(i) is None for i in range(len(utts))] == [False, True, True, True]
    assert set(dataset.skipped.values()) == {"empty text"}


def test_a_null_transcript_is_an_error_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = write_tone(tmp_path / "a.wav", 0.5)
    good = Utterance("a", str(wav), 0.5, "hi", "s").to_json()
    null = good.replace('"text": "hi"', '"text": null').replace('"id": "a"', '"id": "b"')
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(good + "\n" + null + "\n")
    for command in ("validate", "stats"):
        assert main(["data", command, str(manifest)]) == 2
        err = capsys.readouterr().err
        assert f"{manifest}:2:" in err and "text must be a string, got null" in err
