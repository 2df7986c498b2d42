"""How close synthesised speech is to a recording: mel L1 and mel-cepstral distortion.

Both compare log-mel frames (:class:`~speechnas.features.mel.LogMel` with
``normalize="none"``, natural-log power). A synthesised utterance need not last as long as
the recording, so frames are paired by dynamic time warping (DTW, steps (1, 0), (0, 1),
(1, 1) over the Euclidean distance of the mel cepstra) before averaging.

* :func:`mel_cepstral_distortion`: each frame's mel cepstrum from its ``M`` log-mel bands
  at the band centres ``w_k = pi (k + 1/2) / M``, in the convention the formula assumes,
  ``ln|X(w)| = c_0 + 2 sum_d c_d cos(d w)``: ``c_d = (1 / M) sum_k ln|X_k| cos(d w_k)``
  (coefficients 1..``n_coeffs``; the 0th, the frame's loudness, left out), and per paired
  frame ``(10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2)`` dB (Kubichek, 1993), the mean
  over the path. The log-mels are in natural log of power: they are halved to the
  log-amplitude the formula assumes.
* :func:`mel_l1`: the mean absolute log-mel difference over the same path.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from torch import Tensor

__all__ = ["dtw_path", "mel_cepstra", "mel_cepstral_distortion", "mel_l1"]


def mel_cepstra(log_mel: Tensor | NDArray[np.float64], n_coeffs: int = 13) -> NDArray[np.float64]:
    """(T, M) natural-log mel power -> (T, n_coeffs) cepstra 1..n_coeffs of log amplitude,
    ``ln|X(w)| = c_0 + 2 sum_d c_d cos(d w)`` (module docstring)."""
    x = np.asarray(log_mel, dtype=np.float64) / 2.0  # log power -> log amplitude
    m = x.shape[1]
    k = np.arange(m)
    basis = np.cos(np.pi / m * (k[None, :] + 0.5) * np.arange(1, n_coeffs + 1)[:, None]) / m
    cepstra: NDArray[np.float64] = x @ basis.T
    return cepstra


def dtw_path(a: NDArray[np.float64], b: NDArray[np.float64]) -> list[tuple[int, int]]:
    """The lowest-cost monotonic pairing of the rows of ``a`` and ``b`` (Euclidean)."""
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    path = []
    i, j = n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = int(np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]]))
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return path[::-1]


def mel_cepstral_distortion(
    synthesised: Tensor | NDArray[np.float64],
    recorded: Tensor | NDArray[np.float64],
    n_coeffs: int = 13,
) -> float:
    """MCD in dB between two (T, M) log-mel sequences (module docstring).

    Raises:
        ValueError: either sequence is empty, or their mel bands differ.
    """
    a, b = _checked(synthesised, recorded)
    ca, cb = mel_cepstra(a, n_coeffs), mel_cepstra(b, n_coeffs)
    path = dtw_path(ca, cb)
    diff = np.array([ca[i] - cb[j] for i, j in path])
    return float(np.mean(10.0 / math.log(10.0) * np.sqrt(2.0 * (diff**2).sum(axis=1))))


def mel_l1(
    synthesised: Tensor | NDArray[np.float64],
    recorded: Tensor | NDArray[np.float64],
    n_coeffs: int = 13,
) -> float:
    """Mean absolute log-mel difference over the frames DTW pairs (module docstring).

    Raises:
        ValueError: either sequence is empty, or their mel bands differ.
    """
    a, b = _checked(synthesised, recorded)
    path = dtw_path(mel_cepstra(a, n_coeffs), mel_cepstra(b, n_coeffs))
    return float(np.mean([np.abs(a[i] - b[j]).mean() for i, j in path]))


def _checked(
    a: Tensor | NDArray[np.float64], b: Tensor | NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or not len(x) or not len(y):
        raise ValueError("expected two non-empty (frames, mel bands) sequences")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"mel bands differ: {x.shape[1]} and {y.shape[1]}")
    return x, y
