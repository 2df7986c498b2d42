"""Audio decoding with soundfile, mono mixing and resampling to the model rate.

soundfile (libsndfile) reads WAV, FLAC, Ogg/Vorbis, Ogg/Opus and MP3. Every failure becomes an
:class:`~speechnas.errors.AudioError` with a short reason, so callers can skip and count bad
files instead of crashing.
"""

from __future__ import annotations

import os
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from speechnas.errors import AudioError

__all__ = ["SAMPLE_RATE", "audio_duration", "load_audio", "resample"]

SAMPLE_RATE = 16_000


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(str(path), "missing")
    if not path.is_file():
        raise AudioError(str(path), "unreadable", "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(str(path), "empty")


def _header(path: Path) -> Any:
    """The file's soundfile header; missing, empty and non-audio files raise AudioError."""
    _check_file(path)
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(str(path), "not audio", str(e)) from e


def _riff_truncation(path: Path) -> str | None:
    """For RIFF/WAVE files, compare the size the header declares with the bytes on disk.

    libsndfile silently shortens a truncated WAV to the frames present, so the check is ours.
    """
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    riff_size = int.from_bytes(head[4:8], "little")
    if riff_size in (0, 0xFFFFFFFF):
        return None  # written to a pipe: the size was never filled in, so it says nothing
    declared = riff_size + 8
    actual = path.stat().st_size
    if declared > actual:
        return f"truncated: header declares {declared} bytes, file has {actual}"
    return None


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds from the file header (cheap: decodes nothing).

    Raises:
        AudioError: missing, empty, not audio, or zero duration.
    """
    p = Path(path)
    info = _header(p)
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(str(p), "zero duration")
    return float(info.frames) / float(info.samplerate)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from ``orig_sr`` to ``target_sr``."""
    if orig_sr == target_sr:
        return wave
    g = gcd(orig_sr, target_sr)
    out: np.ndarray = resample_poly(wave, target_sr // g, orig_sr // g).astype(np.float32)
    return out


def load_audio(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` to a mono float32 waveform in [-1, 1] at ``sample_rate``.

    Args:
        path: Any format libsndfile reads (wav, flac, ogg/opus, mp3).
        sample_rate: Output rate in Hz. Default 16 kHz.

    Returns:
        A 1-D float32 array of shape ``(num_samples,)``.

    Raises:
        AudioError: reason ``missing``, ``empty``, ``not audio`` (the header is not audio),
            ``unreadable`` (the header parses but the data does not decode, e.g. a truncated
            file) or ``zero duration``.
    """
    p = Path(path)
    info = _header(p)
    truncated = _riff_truncation(p)
    if truncated:
        raise AudioError(str(p), "unreadable", truncated)
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(str(p), "unreadable", str(e)) from e
    if data.shape[0] == 0:
        raise AudioError(str(p), "zero duration")
    # A header that promises more frames than the file holds means truncation.
    if info.frames > 0 and data.shape[0] < info.frames:
        raise AudioError(
            str(p),
            "unreadable",
            f"truncated: header says {info.frames} frames, got {data.shape[0]}",
        )
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    wave = resample(np.ascontiguousarray(wave, dtype=np.float32), int(sr), sample_rate)
    if not np.all(np.isfinite(wave)):
        raise AudioError(str(p), "unreadable", "non-finite samples")
    return wave
