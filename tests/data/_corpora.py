"""Tiny corpora (and broken audio files) written in ``tmp_path`` for the data tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16_000


def write_tone(path: Path, seconds: float, *, sr: int = SR, fmt: str | None = None) -> Path:
    """Write a short sine tone (``fmt`` e.g. ``"FLAC"``; default from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr), dtype=np.float32) / sr
    sf.write(str(path), 0.1 * np.sin(2 * np.pi * 440.0 * t), sr, format=fmt, subtype="PCM_16")
    return path


def write_truncated_wav(path: Path, seconds: float = 0.5) -> Path:
    """A WAV whose header promises more bytes than the file holds."""
    write_tone(path, seconds)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_nemo(root: Path, *, gz: bool = False) -> Path:
    write_tone(root / "audio" / "b.wav", 0.5)
    write_tone(root / "audio" / "a.wav", 0.25)
    abs_wav = write_tone(root / "elsewhere" / "c.wav", 0.75)
    lines = [
        {
            "audio_filepath": "audio/b.wav",
            "duration": 0.5,
            "text": "bee",
            "speaker": "s2",
            "split": "train",
            "raw_text": "Bee!",
        },
        # no duration: measured from the header; no utt_id: the file name
        {"audio_filepath": "audio/a.wav", "text": "ay", "speaker": "s1", "language": "de"},
        {"audio_filepath": str(abs_wav), "duration": 0.75, "text": "see", "utt_id": "cee"},
        # a bad file must not stop the reader
        {"audio_filepath": "audio/gone.wav", "text": "gone"},
    ]
    body = "".join(json.dumps(rec) + "\n" for rec in lines)
    path = root / ("manifest.jsonl.gz" if gz else "manifest.jsonl")
    if gz:
        path.write_bytes(gzip.compress(body.encode()))
    else:
        path.write_text(body, encoding="utf-8")
    return path


def make_kaldi(root: Path) -> Path:
    root.mkdir(parents=True)
    for name, seconds in (("u2", 0.5), ("u1", 0.25)):
        write_tone(root / "wav" / f"{name}.wav", seconds)
    (root / "wav.scp").write_text(
        f"u2 {root / 'wav' / 'u2.wav'}\nu1 wav/u1.wav\n", encoding="utf-8"
    )
    (root / "text").write_text("u1 HELLO WORLD\nu2 GOOD  BYE\n", encoding="utf-8")
    (root / "utt2spk").write_text("u1 spkA\nu2 spkB\n", encoding="utf-8")
    return root


def make_librispeech(root: Path) -> Path:
    for spk, chapter, n in (("19", "198", 2), ("26", "495", 1)):
        folder = root / spk / chapter
        lines = []
        for i in range(n):
            utt = f"{spk}-{chapter}-{i:04d}"
            write_tone(folder / f"{utt}.flac", 0.25 * (i + 1), fmt="FLAC")
            lines.append(f"{utt} WORDS NUMBER {i}\n")
        (folder / f"{spk}-{chapter}.trans.txt").write_text("".join(lines), encoding="utf-8")
    return root


def make_commonvoice(root: Path, *, locale: bool = True) -> Path:
    header = ["client_id", "path", "sentence", "up_votes", "down_votes"]
    header += ["locale"] if locale else []
    rows = [
        ["c2", "common_voice_x_2.wav", 'He said "hi".', "2", "0"],
        ["c1", "common_voice_x_1.wav", "Guten Tag.", "3", "0"],
    ]
    for row in rows:
        write_tone(root / "clips" / row[1], 0.5)
        if locale:
            row.append("de")
    text = "\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    (root / "validated.tsv").write_text(text, encoding="utf-8")
    (root / "train.tsv").write_text("\t".join(header) + "\n" + "\t".join(rows[0]) + "\n")
    return root
