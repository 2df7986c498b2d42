"""A trainable filterbank front-end initialised from the mel filterbank.

The raw weight ``W`` (``nn.Parameter`` of shape ``(n_fft // 2 + 1, n_mels)``) starts as the
mel filterbank and the filters applied are ``W.clamp(min=0)``. This keeps the energies
non-negative (so the log is defined) and makes the initial front-end exactly the log-mel one.
Clamping is chosen over ``abs`` or a squared parametrisation because their gradient at zero is
zero, which would freeze the many zero weights of the initial triangles and stop a filter from
widening; ``clamp``'s gradient passes at exactly zero (PyTorch's convention), so a zero weight
can grow. A weight pushed below zero stops receiving gradient, i.e. the band is pruned from that
filter. A softplus was not used because it cannot start exactly at the mel filterbank.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechnas.features._base import Frontend
from speechnas.features._framing import (
    Normalize,
    PowerSpectrum,
    check_normalize,
    finish_features,
)
from speechnas.features.mel import MelScale, mel_filterbank

__all__ = ["LearnableFilterbank"]


class LearnableFilterbank(Frontend):
    """Log energies of a learnable non-negative filterbank applied to the power spectrum.

    Args:
        n_mels: Number of filters (``num_features``). Default 80.
        sample_rate, n_fft, win_length, hop_length, f_min, f_max, mel_scale: Framing and the
            mel initialisation, as for :class:`~speechnas.features.LogMel`.
        normalize: ``"utterance"`` (default) or ``"none"``, as for ``LogMel``.

    Example:
        >>> fe = LearnableFilterbank(n_mels=40)
        >>> feats, lens = fe(torch.randn(2, 8_000), torch.tensor([8_000, 4_000]))
        >>> feats.sum().backward()
        >>> fe.weight.grad.shape
        torch.Size([257, 40])
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
        init = mel_filterbank(n_fft, n_mels, sample_rate, f_min, f_max, mel_scale=mel_scale)
        self.weight = nn.Parameter(init)  # (K, n_mels), raw; see filters()
        self.num_features = n_mels
        self.hop_length = hop_length
        self.win_length = win_length
        self.normalize = normalize
        self.log_eps = 1e-6

    def filters(self) -> Tensor:
        """The non-negative filters actually applied, ``(n_fft // 2 + 1, n_mels)``."""
        return self.weight.clamp(min=0.0)

    def forward(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Compute learnable log filterbank features ``(B, T, n_mels)`` and lengths ``(B,)``."""
        power, lens = self.spectrum(wave, wave_lens)  # (B, T, K)
        energies = power @ self.filters().to(power.dtype)  # (B, T, K) -> (B, T, n_mels)
        feats = torch.log(energies + self.log_eps)
        return finish_features(feats, lens, self.normalize), lens
