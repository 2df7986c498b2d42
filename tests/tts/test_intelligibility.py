"""Intelligibility by an independent recogniser: recordings and good synthetic speech are
understood, noise is not."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechnas.data.paths import default_data_root
from speechnas.evaluate.intelligibility import IndependentRecognizer, intelligibility

pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed")

LJSPEECH = default_data_root() / "ljspeech"
SENTENCES = ["the birch canoe slid on the smooth planks", "turn off the kitchen lights"]


@pytest.mark.skipif(
    not (LJSPEECH / "manifest.jsonl").is_file(), reason=f"shared data absent: {LJSPEECH}"
)
@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_recordings_are_understood() -> None:
    records = [json.loads(x) for x in (LJSPEECH / "manifest.jsonl").read_text().splitlines()]
    records = records[:4]
    waves = [sf.read(LJSPEECH / r["audio_filepath"], dtype="float32") for r in records]
    rates, heard = intelligibility(waves, [r["text"] for r in records])
    assert rates.cer < 0.15, heard  # about 5% on these


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_good_synthetic_speech_is_understood_and_noise_is_not(tmp_path: Path) -> None:
    waves = []
    for i, text in enumerate(SENTENCES):
        out = tmp_path / f"{i}.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(out)], check=True)
        waves.append(sf.read(out, dtype="float32"))
    recognizer = IndependentRecognizer()
    spoken, heard = intelligibility(waves, SENTENCES, recognizer)
    noise = [
        (0.1 * np.random.default_rng(i).normal(size=32000).astype(np.float32), 16000)
        for i in range(len(SENTENCES))
    ]
    garbled, _ = intelligibility(noise, SENTENCES, recognizer)
    assert spoken.cer < 0.5, heard
    assert garbled.cer > 0.8 and spoken.cer < garbled.cer - 0.3
