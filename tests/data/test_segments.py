"""Utterances that are parts of longer recordings: Kaldi ``segments``, offsets and channels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechnas.arch import ArchSpec
from speechnas.cli import main
from speechnas.data.audio import load_audio
from speechnas.data.manifest import Utterance, read_manifest, write_manifest
from speechnas.data.readers.kaldi import read_kaldi
from speechnas.data.validate import validate
from speechnas.errors import AudioError, UserError
from speechnas.evaluate.runner import evaluate_model
from speechnas.models import build_model
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.text import build_tokenizer

RATE = 16000


def _recording(tmp_path: Path, n: int = 4) -> tuple[list[Utterance], Path]:
    """``n`` utterances as files, and a Kaldi folder with all of them in one recording, cut
    by ``segments`` (a second of silence between them)."""
    utts = make_corpus(tmp_path / "files", n=n)
    silence = np.zeros(RATE, dtype=np.int16)
    parts, lines, at = [], [], RATE
    parts.append(silence)
    for u in utts:
        data, _ = sf.read(u.audio_path, dtype="int16")
        lines.append(f"{u.id} rec1 {at / RATE:.7f} {(at + len(data)) / RATE:.7f}\n")
        parts += [data, silence]
        at += len(data) + RATE
    kaldi = tmp_path / "kaldi"
    kaldi.mkdir()
    sf.write(kaldi / "rec1.wav", np.concatenate(parts), RATE, subtype="PCM_16")
    (kaldi / "wav.scp").write_text("rec1 rec1.wav\n")
    (kaldi / "segments").write_text("".join(lines))
    (kaldi / "text").write_text("".join(f"{u.id} {u.text}\n" for u in utts))
    (kaldi / "utt2spk").write_text("".join(f"{u.id} {u.speaker}\n" for u in utts))
    return utts, kaldi


def test_segments_are_read_as_parts_of_their_recording(tmp_path: Path) -> None:
    utts, kaldi = _recording(tmp_path)
    segments = read_kaldi(kaldi).utterances
    assert [s.id for s in segments] == [u.id for u in utts]
    for whole, part in zip(utts, segments, strict=True):
        assert part.audio_path == str((kaldi / "rec1.wav").absolute())
        assert (part.text, part.speaker) == (whole.text, whole.speaker)
        assert part.offset is not None and part.duration == pytest.approx(whole.duration, abs=1e-3)
        assert np.array_equal(part.load(RATE), load_audio(whole.audio_path))


def test_a_segment_manifest_round_trips_and_a_whole_file_record_is_unchanged(
    tmp_path: Path,
) -> None:
    _, kaldi = _recording(tmp_path, n=2)
    segments = read_kaldi(kaldi).utterances
    path = write_manifest(segments, tmp_path / "m.jsonl")
    assert read_manifest(path) == segments
    whole = Utterance("a", "/a.wav", 1.5, "hi", "s1")
    assert whole.to_json() == (
        '{"audio_path": "/a.wav", "duration": 1.5, "id": "a", "language": "en", '
        '"speaker": "s1", "text": "hi"}'
    )


def test_prepared_segments_are_validated_and_scored_like_the_files_they_came_from(
    tmp_path: Path,
) -> None:
    utts, kaldi = _recording(tmp_path)
    out = tmp_path / "segments.jsonl"
    assert main(["data", "prepare", str(kaldi), "--format", "kaldi", "--out", str(out)]) == 0
    segments = read_manifest(out)
    report = validate(segments)
    assert report.ok, report.problems
    for u in utts:
        assert report.durations[u.id] == pytest.approx(u.duration, abs=1e-3)
    tokenizer = build_tokenizer("char", [u.text for u in utts])
    torch.manual_seed(0)
    spec = ArchSpec.uniform(encoder="lstm", num_layers=1, width=16)
    model = build_model(spec, vocab_size=tokenizer.vocab_size, specaugment=False).eval()
    scores = [
        evaluate_model(model, tokenizer, s, batch_seconds=0.1, rtf_utterances=0, num_examples=9)
        for s in (utts, segments)
    ]
    assert scores[0].examples == scores[1].examples
    assert (scores[0].wer, scores[0].utterances) == (scores[1].wer, len(utts))


def test_bad_segments_lines_are_named(tmp_path: Path) -> None:
    _, kaldi = _recording(tmp_path, n=1)
    for line, message in (
        ("u9 rec1 0.5\n", "expected '<utt> <recording> <start> <end>'"),
        ("u9 rec2 0.0 0.5\n", "recording 'rec2' is not in wav.scp"),
        ("u9 rec1 0.5 0.2\n", "need 0 <= start < end"),
        ("u9 rec1 zero 0.2\n", "start and end must be seconds"),
    ):
        (kaldi / "segments").write_text(line)
        with pytest.raises(UserError, match=rf"segments:1: .*{message}"):
            read_kaldi(kaldi)


def test_a_segment_to_the_end_and_one_past_the_end(tmp_path: Path) -> None:
    utts, kaldi = _recording(tmp_path, n=1)
    length = sf.info(str(kaldi / "rec1.wav")).duration
    (kaldi / "segments").write_text("u0 rec1 1.0 -1\n")
    (part,) = read_kaldi(kaldi).utterances
    assert part.duration == pytest.approx(length - 1.0, abs=1e-5)
    past = dataclasses.replace(part, duration=length)
    with pytest.raises(AudioError, match="not within"):
        past.load(RATE)


def test_one_channel_of_a_stereo_file(tmp_path: Path) -> None:
    left = np.linspace(-0.5, 0.5, RATE, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), RATE, subtype="FLOAT")
    utt = Utterance("l", str(path), 1.0, "yes", "s", channel=0)
    assert np.allclose(utt.load(RATE), left)
    assert np.allclose(load_audio(path), left / 2)  # no channel: the mix
    with pytest.raises(AudioError, match="no channel 2"):
        dataclasses.replace(utt, channel=2).load(RATE)
    with pytest.raises(ValueError, match="channel"):
        Utterance("l", str(path), 1.0, "yes", "s", channel=-1)
