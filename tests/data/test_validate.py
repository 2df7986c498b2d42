from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.cli import main
from speechnas.data.manifest import Utterance, write_manifest
from speechnas.data.validate import validate, validate_source

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
