"""Mel-frequency cepstral coefficients: an orthonormal DCT-II of the log-mel energies.

``c[k] = sum_n logmel[n] * w_k * cos(pi * k * (n + 0.5) / N)`` with ``N = n_mels``,
``w_0 = sqrt(1 / N)`` and ``w_k = sqrt(2 / N)`` otherwise (``scipy.fft.dct(type=2,
norm="ortho")``), keeping the first ``n_mfcc`` coefficients. ``c[0]`` is the scaled mean
log energy. No liftering and no energy replacement (Kaldi's ``use-energy``) are applied; the
optional per-utterance normalisation (cepstral mean and variance normalisation) follows the DCT.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from speechnas.features._base import Frontend
from speechnas.features._framing import Normalize, check_normalize, finish_features
from speechnas.features.mel import LogMel

__all__ = ["MFCC", "dct_matrix"]


def dct_matrix(n_mels: int, n_mfcc: int) -> Tensor:
    """Orthonormal DCT-II basis, truncated to ``n_mfcc`` coefficients.

    Args:
        n_mels: Input size ``N``.
        n_mfcc: Number of coefficients kept, ``1 <= n_mfcc <= n_mels``.

    Returns:
        ``(n_mels, n_mfcc)`` float32 matrix ``D``; ``x @ D`` transforms the last dim of ``x``.
        With ``n_mfcc == n_mels`` it is orthogonal.

    Raises:
        ValueError: if ``n_mfcc`` is outside ``[1, n_mels]``.
    """
    if n_mels <= 0:
        raise ValueError(f"n_mels must be positive, got {n_mels}")
    if not 1 <= n_mfcc <= n_mels:
        raise ValueError(f"n_mfcc must lie in [1, n_mels={n_mels}], got {n_mfcc}")
    n = torch.arange(n_mels, dtype=torch.float64)[:, None]  # (N, 1)
    k = torch.arange(n_mfcc, dtype=torch.float64)[None, :]  # (1, C)
    basis = torch.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)  # (N, C)
    basis[:, 0] = math.sqrt(1.0 / n_mels)
    return basis.to(torch.float32)


class MFCC(Frontend):
    """MFCCs: :class:`~speechnas.features.LogMel` (unnormalised), DCT-II, then normalisation.

    Args:
        n_mfcc: Coefficients kept (``num_features``). Default 13; 40 with ``n_mels=40`` gives
            Kaldi-style "high-resolution" MFCCs.
        n_mels: Mel bands before the DCT, ``>= n_mfcc``. Default 80.
        normalize: ``"utterance"`` (default, CMVN over the valid frames) or ``"none"``.
        **framing: ``sample_rate``, ``n_fft``, ``win_length``, ``hop_length``, ``f_min``,
            ``f_max``, ``mel_scale``: as for :class:`~speechnas.features.LogMel`.

    Example:
        >>> fe = MFCC(n_mfcc=13, n_mels=40)
        >>> fe(torch.zeros(1, 4_000), torch.tensor([4_000]))[0].shape
        torch.Size([1, 23, 13])
    """

    def __init__(
        self,
        n_mfcc: int = 13,
        *,
        n_mels: int = 80,
        normalize: Normalize = "utterance",
        **framing: Any,
    ) -> None:
        super().__init__()
        check_normalize(normalize)
        dct = dct_matrix(n_mels, n_mfcc)  # validates n_mfcc before the filterbank is built
        # Normalisation happens after the DCT, so the log-mel stage stays raw.
        self.logmel = LogMel(n_mels, normalize="none", **framing)
        self.dct: Tensor
        self.register_buffer("dct", dct, persistent=False)  # (n_mels, n_mfcc)
        self.num_features = n_mfcc
        self.hop_length = self.logmel.hop_length
        self.win_length = self.logmel.win_length
        self.normalize = normalize

    def forward(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Compute MFCCs ``(B, T, n_mfcc)`` and frame lengths ``(B,)``."""
        logmel, lens = self.logmel(wave, wave_lens)  # (B, T, n_mels), padded frames zero
        ceps = logmel @ self.dct.to(logmel.dtype)  # (B, T, n_mels) -> (B, T, n_mfcc)
        return finish_features(ceps, lens, self.normalize), lens
