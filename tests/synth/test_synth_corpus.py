from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from speechnas.cli import main
from speechnas.data.manifest import read_manifest
from speechnas.errors import UserError
from speechnas.synth.corpus import synthesize_corpus
from speechnas.synth.engines import get_engine
from speechnas.synth.voices import DEFAULT_VOICES, assign_splits

HOURS = 0.01  # ~36 s of audio, ~14 utterances
_SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def fast_engines() -> list[str]:
    """espeak and flite when installed: both are ~10x faster than festival."""
    names = [n for n in ("espeak", "flite") if get_engine(n).available()]
    if not names:
        pytest.skip("neither espeak-ng nor flite is installed")
    return names


def _snapshot(out: Path) -> dict[str, str]:
    """Hash of every manifest and audio file, by relative path."""
    files = sorted(out.glob("*.jsonl")) + sorted((out / "audio").glob("*.flac"))
    return {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_same_seed_gives_identical_corpus(tmp_path: Path, fast_engines: list[str]) -> None:
    out = tmp_path / "corpus"
    first = synthesize_corpus(out, hours=HOURS, seed=0, engines=fast_engines, progress=False)
    snap = _snapshot(out)
    shutil.rmtree(out)
    # One worker instead of two: the worker count must not change anything.
    second = synthesize_corpus(
        out, hours=HOURS, seed=0, engines=fast_engines, workers=1, progress=False
    )
    assert _snapshot(out) == snap
    assert first == second

    other = synthesize_corpus(
        tmp_path / "other", hours=HOURS, seed=1, engines=fast_engines, progress=False
    )
    assert other.manifests["all"].read_text() != first.manifests["all"].read_text()


def test_corpus_contents_and_cache(tmp_path: Path, fast_engines: list[str]) -> None:
    out = tmp_path / "corpus"
    result = synthesize_corpus(out, hours=HOURS, seed=3, engines=fast_engines, progress=False)
    assert not result.cached
    assert result.hours >= HOURS
    utts = read_manifest(result.manifests["all"])
    assert [u.id for u in utts] == sorted(u.id for u in utts)
    for u in utts:
        info = sf.info(u.audio_path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert u.duration == round(info.frames / 16000, 3)
        assert re.fullmatch(r"[a-z']+( [a-z']+)*", u.text)
        assert u.language == "en" and Path(u.audio_path).is_absolute()
    assert sorted(p.name for p in (out / "audio").glob("*.flac")) == sorted(
        f"{u.id}.flac" for u in utts
    )

    # Splits partition the corpus and never share a speaker.
    split_utts = {s: read_manifest(result.manifests[s]) for s in _SPLITS}
    assert sum(len(v) for v in split_utts.values()) == len(utts)
    speakers = {s: {u.speaker for u in v} for s, v in split_utts.items()}
    assert not speakers["train"] & speakers["dev"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["dev"] & speakers["test"]

    before = {p: p.stat().st_mtime_ns for p in result.manifests.values()}
    again = synthesize_corpus(out, hours=HOURS, seed=3, engines=fast_engines, progress=False)
    assert again.cached and again == result
    assert {p: p.stat().st_mtime_ns for p in again.manifests.values()} == before
    assert json.loads((out / ".completed").read_text())["params"]["seed"] == 3

    # More hours reuse the files already made: the old corpus is a prefix of the new one.
    bigger = synthesize_corpus(out, hours=2 * HOURS, seed=3, engines=fast_engines, progress=False)
    new_ids = [u.id for u in read_manifest(bigger.manifests["all"])]
    assert new_ids[: len(utts)] == [u.id for u in utts]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_default_voices_hold_out_whole_groups(seed: int) -> None:
    splits = assign_splits(DEFAULT_VOICES, seed)
    assert set(splits.values()) == set(_SPLITS)
    group_split: dict[str, set[str]] = {}
    for preset in DEFAULT_VOICES:
        group_split.setdefault(preset.group, set()).add(splits[preset.speaker])
    assert all(len(s) == 1 for s in group_split.values())
    for split in ("dev", "test"):  # each held-out split has an espeak and a flite/festival voice
        families = {p.family for p in DEFAULT_VOICES if splits[p.speaker] == split}
        assert families == {"espeak", "cmu"}


def test_few_voices_fall_back_to_single_speakers() -> None:
    festival = [p for p in DEFAULT_VOICES if p.engine == "festival"]  # 4 voices, 2 groups
    splits = assign_splits(festival, 0)
    assert set(splits.values()) == set(_SPLITS)
    with pytest.raises(UserError, match="at least 3"):
        assign_splits(festival[:2], 0)


def test_no_engine_installed_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match="apt-get install"):
        synthesize_corpus(tmp_path, hours=HOURS, progress=False)
    with pytest.raises(UserError, match="unknown TTS engine"):
        synthesize_corpus(tmp_path, engines=["sam"], progress=False)


def test_cli_synth(
    tmp_path: Path, fast_engines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["data", "synth", "--out", str(tmp_path / "c"), "--hours", "0.003", "--seed", "5"]
    args += ["--engines", ",".join(fast_engines), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "train" in out and "test" in out and str(tmp_path / "c" / "all.jsonl") in out
    assert main(args) == 0
    assert "(cached)" in capsys.readouterr().out
    assert main(["data", "synth", "--out", str(tmp_path / "d"), "--engines", "sam"]) == 2
