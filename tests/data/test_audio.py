from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechnas.data.audio import audio_duration, load_audio
from speechnas.errors import AudioError

FORMATS = [
    ("a.wav", "WAV", "PCM_16"),
    ("a.flac", "FLAC", "PCM_16"),
    ("a.ogg", "OGG", "VORBIS"),
    ("a.opus", "OGG", "OPUS"),
    ("a.mp3", "MP3", "MPEG_LAYER_III"),
]


def _tone(sr: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(("name", "fmt", "subtype"), FORMATS)
def test_decodes_every_supported_format(tmp_path: Path, name: str, fmt: str, subtype: str) -> None:
    path = tmp_path / name
    sr = 48_000 if subtype == "OPUS" else 16_000
    sf.write(path, _tone(sr), sr, format=fmt, subtype=subtype)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    # Lossy codecs add encoder delay and padding; the length stays within 0.1 s of 1 s.
    assert abs(wave.size - 16_000) < 1_600
    # The 440 Hz tone survives decoding and resampling: the spectrum peaks there.
    spectrum = np.abs(np.fft.rfft(wave[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16_000 / 12_000
    assert abs(peak_hz - 440.0) < 5.0
    assert audio_duration(path) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("sr", [8_000, 22_050, 44_100])
def test_resamples_to_16k_and_mixes_to_mono(tmp_path: Path, sr: int) -> None:
    stereo = np.stack([_tone(sr, 0.5), _tone(sr, 0.5)], axis=1)
    path = tmp_path / "s.wav"
    sf.write(path, stereo, sr, subtype="FLOAT")
    wave = load_audio(path)
    assert wave.shape == (8_000,)
    assert np.max(np.abs(wave[1000:-1000])) == pytest.approx(0.5, abs=0.02)


def test_bad_files_raise_with_reason(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, _tone(16_000), 16_000, subtype="PCM_16")
    data = good.read_bytes()
    (tmp_path / "truncated.wav").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio at all\n" * 10)
    cases = {
        "truncated.wav": "unreadable",
        "empty.wav": "empty",
        "text.wav": "not audio",
        "missing.wav": "missing",
    }
    for name, reason in cases.items():
        with pytest.raises(AudioError) as info:
            load_audio(tmp_path / name)
        assert info.value.reason == reason
        assert name in str(info.value)


def test_streamed_wav_with_unknown_riff_size_decodes(tmp_path: Path) -> None:
    # Tools writing WAV to a pipe leave the RIFF size at 0xFFFFFFFF; that is not truncation.
    path = tmp_path / "streamed.wav"
    sf.write(path, _tone(16_000), 16_000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[4:8] = (0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert load_audio(path).shape == (16_000,)
