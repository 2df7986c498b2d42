"""Prosody targets for text-to-speech: per-frame pitch and energy, and their per-token means.

A FastSpeech 2 or LightSpeech model predicts each token's pitch and energy from the text and
is taught them from the recording. Frames here are the mel front-end's (Hann window of
``win_length`` samples every ``hop_length``, from the first sample, no centring), so frame
``t`` of the prosody is frame ``t`` of the log-mel:

* :func:`frame_energy`: the L2 norm of each frame's magnitude spectrum (FastSpeech 2's
  energy);
* :func:`frame_pitch`: the fundamental frequency by YIN (de Cheveigné and Kawahara, 2002):
  the cumulative-mean-normalised difference function of each frame, its first dip under
  ``threshold`` within ``[sample_rate / fmax, sample_rate / fmin]`` lags, refined by a
  parabola; 0 where no dip is deep enough, or the frame is silent (unvoiced);
* :func:`per_token`: a frame track averaged over each token's frames (voiced frames only for
  pitch, the unvoiced tokens then 0), from durations that sum to the frame count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["frame_energy", "frame_pitch", "per_token"]


def _frames(wave: NDArray[np.float64], win: int, hop: int) -> NDArray[np.float64]:
    x = np.asarray(wave, dtype=np.float64)
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    count = 1 + (len(x) - win) // hop
    index = np.arange(win)[None, :] + hop * np.arange(count)[:, None]
    frames: NDArray[np.float64] = x[index]
    return frames


def frame_energy(
    wave: NDArray[np.float64], *, n_fft: int, win_length: int, hop_length: int
) -> NDArray[np.float64]:
    """(S,) samples -> (T,) spectral magnitude norms, one per front-end frame."""
    frames = _frames(wave, win_length, hop_length) * np.hanning(win_length + 1)[:-1]
    magnitude = np.abs(np.fft.rfft(frames, n=n_fft, axis=1))
    norms: NDArray[np.float64] = np.linalg.norm(magnitude, axis=1)
    return norms


def frame_pitch(
    wave: NDArray[np.float64],
    sample_rate: int,
    *,
    win_length: int,
    hop_length: int,
    fmin: float = 60.0,
    fmax: float = 500.0,
    threshold: float = 0.15,
) -> NDArray[np.float64]:
    """(S,) samples -> (T,) F0 in Hz per front-end frame, 0 where unvoiced.

    Raises:
        ValueError: the window is too short for ``fmin``'s period.
    """
    lo, hi = int(sample_rate / fmax), int(np.ceil(sample_rate / fmin))
    if hi + 1 >= win_length:
        raise ValueError(
            f"win_length={win_length} is too short for fmin={fmin} Hz at {sample_rate} Hz"
        )
    frames = _frames(wave, win_length, hop_length)
    span = win_length - hi
    out = np.zeros(len(frames))
    for t, frame in enumerate(frames):
        ref = frame[:span]
        if float(np.mean(ref**2)) < 1e-8:  # silence (below -80 dB of full scale): unvoiced
            continue
        diff = np.array([np.sum((ref - frame[tau : tau + span]) ** 2) for tau in range(hi + 1)])
        cumulative = np.cumsum(diff[1:]) / np.arange(1, hi + 1)
        cmnd = np.ones(hi + 1)
        cmnd[1:] = diff[1:] / np.maximum(cumulative, 1e-12)
        below = np.nonzero(cmnd[lo : hi + 1] < threshold)[0]
        if not len(below):
            continue
        tau = lo + int(below[0])
        while tau + 1 <= hi and cmnd[tau + 1] < cmnd[tau]:
            tau += 1  # the bottom of the dip
        if 0 < tau < hi:
            a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
        else:
            shift = 0.0
        out[t] = sample_rate / (tau + shift)
    return out


def per_token(
    track: NDArray[np.float64], durations: Sequence[int], *, voiced_only: bool = False
) -> NDArray[np.float64]:
    """Each token's mean of ``track`` over its frames (``durations`` frames each, in order;
    0 for a token of no frames, or of no voiced frame with ``voiced_only``).

    Raises:
        ValueError: the durations do not sum to the track's length.
    """
    if sum(durations) != len(track):
        raise ValueError(f"durations sum to {sum(durations)}, the track has {len(track)} frames")
    out = np.zeros(len(durations))
    start = 0
    for i, d in enumerate(durations):
        part = track[start : start + d]
        if voiced_only:
            part = part[part > 0]
        out[i] = float(part.mean()) if len(part) else 0.0
        start += d
    return out
