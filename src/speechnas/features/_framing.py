"""Framing, power spectrum and per-utterance normalisation shared by the front-ends.

Frame count. For an utterance of ``S`` valid samples, a window of ``win_length`` and a hop of
``hop_length``::

    T = 1 + (S - win_length) // hop_length    if S >= win_length
    T = 1                                      otherwise (the frame is zero-padded)

Only frames that lie entirely inside the valid samples are counted (no centring, no reflection
padding, like ``torch.stft(center=False)``), so a frame never reads another utterance's padding.
Samples past ``wave_lens`` are zeroed before framing, which makes the single padded frame of a
very short utterance independent of whatever the batch padding held.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "Normalize",
    "PowerSpectrum",
    "check_normalize",
    "check_wave",
    "finish_features",
    "frame_mask",
    "normalize_utterance",
    "num_frames",
]

Normalize = Literal["utterance", "none"]
_NORMALIZE_CHOICES = ("utterance", "none")


def num_frames(num_samples: Tensor, win_length: int, hop_length: int) -> Tensor:
    """Number of frames per utterance (formula in the module docstring).

    Args:
        num_samples: Valid samples per utterance, shape ``(B,)``, integer.
        win_length: Window length in samples.
        hop_length: Hop in samples.

    Returns:
        Frames per utterance, shape ``(B,)``, int64; at least 1.
    """
    num_samples = num_samples.to(torch.int64)
    full = 1 + torch.div(num_samples - win_length, hop_length, rounding_mode="floor")
    return torch.where(num_samples >= win_length, full, torch.ones_like(full))


def frame_mask(lens: Tensor, max_len: int) -> Tensor:
    """Boolean mask ``(B, max_len)``: True for valid positions ``t < lens[b]``."""
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


def check_wave(wave: Tensor, wave_lens: Tensor) -> None:
    """Raise ValueError unless ``wave`` is (B, S) float and ``wave_lens`` (B,) in [0, S]."""
    if wave.ndim != 2:
        raise ValueError(f"wave must have shape (B, S), got {tuple(wave.shape)}")
    if not wave.is_floating_point():
        raise ValueError(f"wave must be floating point, got dtype={wave.dtype}")
    if wave_lens.ndim != 1 or wave_lens.shape[0] != wave.shape[0]:
        raise ValueError(
            f"wave_lens must have shape ({wave.shape[0]},), got {tuple(wave_lens.shape)}"
        )
    if wave_lens.is_floating_point() or wave_lens.dtype == torch.bool:
        raise ValueError(f"wave_lens must be an integer tensor, got dtype={wave_lens.dtype}")
    if wave_lens.numel() > 0 and (
        int(wave_lens.min()) < 0 or int(wave_lens.max()) > wave.shape[1]
    ):
        raise ValueError(f"wave_lens must lie in [0, {wave.shape[1]}], got {wave_lens.tolist()}")


def check_normalize(normalize: str) -> None:
    """Raise ValueError unless ``normalize`` is a known normalisation mode."""
    if normalize not in _NORMALIZE_CHOICES:
        raise ValueError(f"normalize must be one of {_NORMALIZE_CHOICES}, got {normalize!r}")


def normalize_utterance(x: Tensor, x_lens: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-utterance, per-feature mean and variance normalisation over valid frames only.

    Args:
        x: Features, shape ``(B, T, F)``.
        x_lens: Valid frames, shape ``(B,)``.
        eps: Added to the variance; an utterance with constant features maps to zeros.

    Returns:
        Normalised features ``(B, T, F)``; frames past ``x_lens`` are zero.
    """
    mask = frame_mask(x_lens, x.shape[1]).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    count = x_lens.clamp(min=1).to(x.dtype)[:, None, None]  # (B, 1, 1)
    mean = (x * mask).sum(dim=1, keepdim=True) / count  # (B, 1, F)
    centred = (x - mean) * mask
    var = centred.square().sum(dim=1, keepdim=True) / count  # (B, 1, F), population variance
    return centred * torch.rsqrt(var + eps)


def finish_features(x: Tensor, x_lens: Tensor, normalize: str) -> Tensor:
    """Apply the optional normalisation and zero the padded frames of ``x`` ``(B, T, F)``."""
    if normalize == "utterance":
        return normalize_utterance(x, x_lens)
    mask = frame_mask(x_lens, x.shape[1]).unsqueeze(-1)  # (B, T, 1)
    return x.masked_fill(~mask, 0.0)


class PowerSpectrum(nn.Module):
    """Hann-windowed power spectrum ``|FFT|^2`` of every frame.

    Args:
        n_fft: FFT size; frames are zero-padded to it. Default 512.
        win_length: Window length in samples. Default 400 (25 ms at 16 kHz).
        hop_length: Hop in samples. Default 160 (10 ms at 16 kHz).

    Raises:
        ValueError: if a length is not positive or ``n_fft < win_length``.
    """

    def __init__(self, *, n_fft: int = 512, win_length: int = 400, hop_length: int = 160) -> None:
        super().__init__()
        if win_length <= 0:
            raise ValueError(f"win_length must be positive, got {win_length}")
        if hop_length <= 0:
            raise ValueError(f"hop_length must be positive, got {hop_length}")
        if n_fft < win_length:
            raise ValueError(f"n_fft must be >= win_length={win_length}, got {n_fft}")
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.num_freqs = n_fft // 2 + 1
        self.window: Tensor
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def forward(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Frame and transform ``wave``.

        Args:
            wave: ``(B, S)`` float waveforms.
            wave_lens: ``(B,)`` valid samples.

        Returns:
            ``(power, frame_lens)``: ``(B, T, n_fft // 2 + 1)`` power and ``(B,)`` int64 frames.
            Power in padded frames is not masked; callers zero their final features.
        """
        check_wave(wave, wave_lens)
        num_samples = wave.shape[1]
        valid = frame_mask(wave_lens, num_samples)  # (B, S)
        wave = wave.masked_fill(~valid, 0.0)
        if num_samples < self.win_length:
            wave = nn.functional.pad(wave, (0, self.win_length - num_samples))
        frames = wave.unfold(1, self.win_length, self.hop_length)  # (B, S) -> (B, T, win)
        spec = torch.fft.rfft(frames * self.window.to(wave.dtype), n=self.n_fft)  # (B, T, K)
        power = spec.real.square() + spec.imag.square()
        return power, num_frames(wave_lens, self.win_length, self.hop_length)
