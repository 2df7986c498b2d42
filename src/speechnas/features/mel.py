"""Mel filterbanks (HTK or Slaney scale) and the log-mel front-end.

The filterbank is built here in numpy (float64, then cast) rather than taken from torchaudio or
librosa: triangular filters whose corners sit at ``n_mels + 2`` points equally spaced on the mel
scale, evaluated at the FFT bin frequencies ``k * sample_rate / n_fft`` (the construction of
``torchaudio.functional.melscale_fbanks`` and ``librosa.filters.mel``).

Mel scales:

* ``"htk"``: ``mel = 2595 * log10(1 + f / 700)``.
* ``"slaney"``: linear ``mel = 3 f / 200`` below 1 kHz, logarithmic above
  (``15 + 27 * ln(f / 1000) / ln(6.4)``), as in the Auditory Toolbox and librosa's default.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from speechnas.features._base import Frontend
from speechnas.features._framing import (
    Normalize,
    PowerSpectrum,
    check_normalize,
    finish_features,
)

__all__ = ["LogMel", "hz_to_mel", "mel_filterbank", "mel_to_hz"]

MelScale = Literal["htk", "slaney"]

# Slaney scale: linear below _SLANEY_F_SP Hz, log above with step _SLANEY_LOGSTEP.
_SLANEY_F_SP = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # 15.0
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(freq: ArrayLike, mel_scale: MelScale = "htk") -> NDArray[np.float64]:
    """Convert frequencies in Hz to mels on the given scale (formulas in the module docstring)."""
    f = np.asarray(freq, dtype=np.float64)
    if mel_scale == "htk":
        return np.asarray(2595.0 * np.log10(1.0 + f / 700.0))
    if mel_scale == "slaney":
        log_part = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _SLANEY_MIN_LOG_HZ) / (
            _SLANEY_LOGSTEP
        )
        return np.asarray(np.where(f >= _SLANEY_MIN_LOG_HZ, log_part, f / _SLANEY_F_SP))
    raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")


def mel_to_hz(mel: ArrayLike, mel_scale: MelScale = "htk") -> NDArray[np.float64]:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    if mel_scale == "htk":
        return np.asarray(700.0 * (10.0 ** (m / 2595.0) - 1.0))
    if mel_scale == "slaney":
        log_part = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
        return np.asarray(np.where(m >= _SLANEY_MIN_LOG_MEL, log_part, m * _SLANEY_F_SP))
    raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")


def mel_filterbank(
    n_fft: int,
    n_mels: int,
    sample_rate: int,
    f_min: float = 20.0,
    f_max: float | None = None,
    *,
    mel_scale: MelScale = "htk",
    norm: Literal["slaney"] | None = None,
) -> Tensor:
    """Triangular mel filterbank to apply to a one-sided power spectrum.

    Filter ``m`` rises linearly from corner ``m`` to its centre, corner ``m + 1``, where it is
    1, and falls to 0 at corner ``m + 2``; corners are equally spaced in mels between
    ``f_min`` and ``f_max``.

    Args:
        n_fft: FFT size; the spectrum has ``n_fft // 2 + 1`` bins.
        n_mels: Number of filters.
        sample_rate: Sampling rate in Hz.
        f_min: Lowest corner in Hz. Default 20.
        f_max: Highest corner in Hz. Default ``sample_rate / 2``.
        mel_scale: ``"htk"`` (default) or ``"slaney"``.
        norm: ``None`` (peak 1, default) or ``"slaney"`` (each filter scaled by
            ``2 / (upper corner - lower corner)`` so that its area is constant).

    Returns:
        Weights of shape ``(n_fft // 2 + 1, n_mels)``, float32, non-negative; ``power @ fb``
        maps ``(..., n_freqs)`` to ``(..., n_mels)``.

    Raises:
        ValueError: on a non-positive size or rate, or frequencies outside
            ``0 <= f_min < f_max <= sample_rate / 2``.

    Example:
        >>> mel_filterbank(512, 80, 16_000).shape
        torch.Size([257, 80])
    """
    if n_fft <= 0:
        raise ValueError(f"n_fft must be positive, got {n_fft}")
    if n_mels <= 0:
        raise ValueError(f"n_mels must be positive, got {n_mels}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    nyquist = sample_rate / 2.0
    f_max = nyquist if f_max is None else f_max
    if not 0.0 <= f_min < nyquist:
        raise ValueError(f"f_min must lie in [0, {nyquist}), got {f_min}")
    if not f_min < f_max <= nyquist:
        raise ValueError(f"f_max must lie in ({f_min}, {nyquist}], got {f_max}")
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")

    bin_freqs = np.arange(n_fft // 2 + 1, dtype=np.float64) * sample_rate / n_fft  # (K,)
    mel_min, mel_max = hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale)
    corners = mel_to_hz(np.linspace(mel_min, mel_max, n_mels + 2), mel_scale)  # (M + 2,)
    widths = np.diff(corners)  # (M + 1,)
    offsets = corners[None, :] - bin_freqs[:, None]  # (K, M + 2)
    rising = -offsets[:, :-2] / widths[:-1]  # (K, M): 0 at the lower corner, 1 at the centre
    falling = offsets[:, 2:] / widths[1:]  # (K, M): 1 at the centre, 0 at the upper corner
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= 2.0 / (corners[2:] - corners[:-2])[None, :]
    return torch.from_numpy(weights).to(torch.float32)


class LogMel(Frontend):
    """Log mel filterbank energies: power spectrum, mel filterbank, ``log(x + 1e-6)``.

    Args:
        n_mels: Number of mel bands (``num_features``). Default 80.
        sample_rate: Input rate in Hz. Default 16000.
        n_fft: FFT size. Default 512.
        win_length: Window in samples. Default 400 (25 ms).
        hop_length: Hop in samples. Default 160 (10 ms).
        f_min: Lowest filter corner in Hz. Default 20.
        f_max: Highest filter corner in Hz. Default ``sample_rate / 2``.
        mel_scale: ``"htk"`` (default) or ``"slaney"``; see :func:`mel_filterbank`.
        normalize: ``"utterance"`` (default): per-utterance mean and variance normalisation of
            every band over the valid frames only; ``"none"``: raw log energies.

    Shapes: ``(B, S)`` waves and ``(B,)`` lengths in; ``(B, T, n_mels)`` and ``(B,)`` frames out.

    Example:
        >>> fe = LogMel(n_mels=40)
        >>> feats, lens = fe(torch.zeros(2, 16_000), torch.tensor([16_000, 8_000]))
        >>> feats.shape, lens.tolist()
        (torch.Size([2, 98, 40]), [98, 48])
    """

    def __init__(
        self,
        n_mels: int = 80,
        *,
        sample_rate: int = 16_000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        f_min: float = 20.0,
        f_max: float | None = None,
        mel_scale: MelScale = "htk",
        normalize: Normalize = "utterance",
    ) -> None:
        super().__init__()
        check_normalize(normalize)
        self.spectrum = PowerSpectrum(n_fft=n_fft, win_length=win_length, hop_length=hop_length)
        fbank = mel_filterbank(n_fft, n_mels, sample_rate, f_min, f_max, mel_scale=mel_scale)
        self.fbank: Tensor
        self.register_buffer("fbank", fbank, persistent=False)  # (K, n_mels)
        self.num_features = n_mels
        self.hop_length = hop_length
        self.win_length = win_length
        self.normalize = normalize
        self.log_eps = 1e-6

    def filters(self) -> Tensor:
        """The filterbank applied to the power spectrum, ``(n_fft // 2 + 1, n_mels)``."""
        return self.fbank

    def forward(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Compute log-mel features ``(B, T, n_mels)`` and frame lengths ``(B,)``."""
        power, lens = self.spectrum(wave, wave_lens)  # (B, T, K)
        mel = power @ self.filters().to(power.dtype)  # (B, T, K) -> (B, T, n_mels)
        feats = torch.log(mel + self.log_eps)
        return finish_features(feats, lens, self.normalize), lens
