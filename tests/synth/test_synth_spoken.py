"""Transcripts spoken in their own languages by espeak-ng (skipped where it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from speechnas.data.manifest import Utterance, read_manifest
from speechnas.synth.engines import EspeakEngine
from speechnas.synth.spoken import speak_transcripts

pytestmark = pytest.mark.skipif(
    not EspeakEngine().available() or "de" not in EspeakEngine().voices(),
    reason="espeak-ng with its German voice is not installed (apt-get install espeak-ng)",
)


def test_a_language_code_finds_its_voice() -> None:
    engine = EspeakEngine()
    assert engine.voice_for("de") == "de"
    assert engine.voice_for("fr") == "fr-fr"  # the primary subtag's regional voice
    assert engine.voice_for("sv-SE") == "sv"
    assert engine.voice_for("xx-YY") is None


def _utts() -> list[Utterance]:
    return [
        Utterance("de1", "/none.wav", 1.0, "Guten Morgen", "s1", "de"),
        Utterance("de2", "/none.wav", 1.0, "Wie spät ist es?", "s2", "de"),
        Utterance("xx1", "/none.wav", 1.0, "blah", "s3", "xx"),
        Utterance("de3", "/none.wav", 1.0, "?!", "s4", "de"),  # nothing to say
    ]


def test_transcripts_are_spoken_in_their_language(tmp_path: Path) -> None:
    result = speak_transcripts(_utts(), tmp_path / "a", copies=2, seed=0, progress=False)
    assert result.skipped_languages == ["xx"] and result.failed == 0
    assert len(result.utterances) == 4  # two transcripts, two voices each
    assert {u.text for u in result.utterances} == {"Guten Morgen", "Wie spät ist es?"}
    assert {u.language for u in result.utterances} == {"de"}
    assert all(u.speaker.startswith("espeak-de-") for u in result.utterances)
    for u in result.utterances:
        info = sf.info(u.audio_path)
        assert info.samplerate == 16000
        assert u.duration == pytest.approx(info.frames / 16000, abs=1e-3) and u.duration > 0.3
    assert read_manifest(result.manifest) == result.utterances
    # Seeded: another run writes the same utterances and the same audio.
    again = speak_transcripts(_utts(), tmp_path / "b", copies=2, seed=0, progress=False)
    assert [u.id for u in again.utterances] == [u.id for u in result.utterances]
    for a, b in zip(result.utterances, again.utterances, strict=True):
        assert Path(a.audio_path).read_bytes() == Path(b.audio_path).read_bytes()


def test_the_speak_command_writes_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from speechnas.cli import main
    from speechnas.data.manifest import write_manifest

    manifest = write_manifest(_utts(), tmp_path / "in.jsonl")
    argv = ["data", "speak", str(manifest), "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 utterances" in out and "languages spoken: de" in out
    assert "not spoken (no espeak-ng voice): xx" in out
    assert len(read_manifest(tmp_path / "out" / "spoken.jsonl.gz")) == 2
