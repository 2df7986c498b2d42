"""Small audio corpora for tests and examples, written on the fly (no downloads).

``make_corpus`` writes utterances of two "words" each, where every word is a distinct pair of
tones, so a tiny model can learn them in seconds. ``make_bad_files`` writes the four kinds of
broken input that validation and training must survive.
"""

from __future__ import annotations

__all__ = ["WORDS", "make_bad_files", "make_corpus"]

from pathlib import Path

import numpy as np
import soundfile as sf

from speechnas.data.manifest import Utterance

WORDS = {"yes": (300.0, 500.0), "no": (700.0, 400.0), "up": (1200.0, 900.0)}


def _word(word: str, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """A word is two tone segments: each word has its own pair of frequencies."""
    f1, f2 = WORDS[word]
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    seg = np.concatenate([np.sin(2 * np.pi * f1 * t), np.sin(2 * np.pi * f2 * t)])
    return 0.3 * seg + 0.01 * rng.standard_normal(seg.size)


def make_corpus(root: Path, n: int = 12, seed: int = 0) -> list[Utterance]:
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    utts = []
    names = sorted(WORDS)
    for i in range(n):
        words = [names[int(k)] for k in rng.integers(0, len(names), size=2)]
        gap = np.zeros(1600)
        wave = np.concatenate([gap, _word(words[0], rng), gap, _word(words[1], rng), gap])
        path = root / "audio" / f"u{i:03d}.wav"
        sf.write(path, wave.astype(np.float32), 16000, subtype="PCM_16")
        utts.append(
            Utterance(
                f"u{i:03d}", str(path), round(wave.size / 16000, 3), " ".join(words), f"s{i % 3}"
            )
        )
    return utts


def make_bad_files(root: Path) -> list[Utterance]:
    """A truncated wav, an empty file, a text file named .wav, and a missing path."""
    root.mkdir(parents=True, exist_ok=True)
    good = root / "good.wav"
    sf.write(good, np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    data = good.read_bytes()
    (root / "truncated.wav").write_bytes(data[: len(data) // 2])
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("this is not audio\n" * 20)
    good.unlink()
    return [
        Utterance("bad_truncated", str(root / "truncated.wav"), 1.0, "yes no", "bad"),
        Utterance("bad_empty", str(root / "empty.wav"), 0.0, "yes", "bad"),
        Utterance("bad_text", str(root / "notes.wav"), 0.0, "no", "bad"),
        Utterance("bad_missing", str(root / "missing.wav"), 0.0, "up", "bad"),
    ]
