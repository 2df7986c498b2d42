"""Waveform speed perturbation (Ko et al., 2015; Kaldi's ``perturb_data_dir_speed.sh``)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

__all__ = ["speed_perturb"]


def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """Change speed (tempo and pitch together) by ``factor``, as ``sox speed`` does.

    The signal is resampled from rate ``r`` to ``r / factor`` and then played at ``r``: a
    factor of 1.1 is 10% faster and shorter. The output has ``ceil(len(wave) / factor)``
    samples (polyphase resampling with ``up / down = 1 / factor``, the ratio taken as a
    fraction with denominator at most 1000, exact for 0.9, 1.0 and 1.1).

    Args:
        wave: Mono waveform, shape ``(S,)``.
        factor: Speed factor, > 0; Kaldi recipes use 0.9, 1.0 and 1.1.

    Returns:
        float32 waveform of shape ``(ceil(S / factor),)``; a copy when ``factor == 1``.

    Raises:
        ValueError: if ``wave`` is not 1-D or ``factor`` is not a finite positive number.

    Example:
        >>> speed_perturb(np.zeros(16_000, dtype=np.float32), 1.1).shape
        (14546,)
    """
    if wave.ndim != 1:
        raise ValueError(f"wave must be 1-D, got shape {wave.shape}")
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a finite positive number, got {factor}")
    ratio = Fraction(factor).limit_denominator(1000)
    if ratio <= 0:
        raise ValueError(f"factor must be at least 1/1000, got {factor}")
    if ratio == 1:
        return np.array(wave, dtype=np.float32, copy=True)
    # New length = S / factor, so resample by up/down = 1 / factor.
    up, down = ratio.denominator, ratio.numerator
    return np.asarray(resample_poly(wave, up, down), dtype=np.float32)
