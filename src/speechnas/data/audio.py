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


def _segment(
    path: Path, info: Any, offset: float, duration: float | None
) -> tuple[int, int | None]:
    """The frames ``[start, stop)`` of a segment (``stop`` ``None``: to the end)."""
    if offset == 0.0 and duration is None:
        return 0, None
    rate = float(info.samplerate)
    start = int(round(offset * rate))
    stop = None if duration is None else start + int(round(duration * rate))
    end = stop if stop is not None else start
    if offset < 0 or (duration is not None and duration <= 0) or end > info.frames:
        raise AudioError(
            str(path),
            "unreadable",
            f"segment {offset:g}s+{duration if duration is not None else 'end'}s is not within "
            f"the file's {info.frames / rate:g}s",
        )
    return start, stop


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from ``orig_sr`` to ``target_sr``."""
    if orig_sr == target_sr:
        return wave
    g = gcd(orig_sr, target_sr)
    out: np.ndarray = resample_poly(wave, target_sr // g, orig_sr // g).astype(np.float32)
    return out


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int = SAMPLE_RATE,
    *,
    offset: float = 0.0,
    duration: float | None = None,
    channel: int | None = None,
) -> np.ndarray:
    """Decode ``path`` (or a segment of it) to a mono float32 waveform in [-1, 1] at
    ``sample_rate``.

    Args:
        path: Any format libsndfile reads (wav, flac, ogg/opus, mp3).
        sample_rate: Output rate in Hz. Default 16 kHz.
        offset: Start of the segment, in seconds into the file.
        duration: Length of the segment in seconds (``None``: to the end of the file).
        channel: The channel to read (0-based); ``None`` mixes all channels.

    Returns:
        A 1-D float32 array of shape ``(num_samples,)``.

    Raises:
        AudioError: reason ``missing``, ``empty``, ``not audio`` (the header is not audio),
            ``unreadable`` (the header parses but the data does not decode, e.g. a truncated
            file; or the segment or channel is not in the file) or ``zero duration``.
    """
    p = Path(path)
    info = _header(p)
    truncated = _riff_truncation(p)
    if truncated:
        raise AudioError(str(p), "unreadable", truncated)
    start, stop = _segment(p, info, offset, duration)
    if channel is not None and not 0 <= channel < info.channels:
        raise AudioError(str(p), "unreadable", f"no channel {channel} (it has {info.channels})")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True, start=start, stop=stop)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(str(p), "unreadable", str(e)) from e
    if data.shape[0] == 0:
        raise AudioError(str(p), "zero duration")
    # A header that promises more frames than the file holds means truncation.
    expected = (stop if stop is not None else info.frames) - start
    if info.frames > 0 and data.shape[0] < expected:
        raise AudioError(
            str(p),
            "unreadable",
            f"truncated: header says {expected} frames from frame {start}, got {data.shape[0]}",
        )
    if channel is not None:
        wave = data[:, channel]
    else:
        wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    wave = resample(np.ascontiguousarray(wave, dtype=np.float32), int(sr), sample_rate)
    if not np.all(np.isfinite(wave)):
        raise AudioError(str(p), "unreadable", "non-finite samples")
    return wave
