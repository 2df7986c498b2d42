"""Speed perturbation: lengths and a sine's frequency scale as Kaldi's sox speed does."""

from __future__ import annotations

import math

import numpy as np
import pytest

from speechnas.features import speed_perturb

SR = 16_000


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1])
@pytest.mark.parametrize("num_samples", [1, 1_601, 16_000])
def test_length_scales_by_inverse_factor(factor: float, num_samples: int) -> None:
    out = speed_perturb(np.zeros(num_samples, dtype=np.float32), factor)
    assert out.shape == (math.ceil(num_samples / factor - 1e-9),)
    assert out.dtype == np.float32


def test_factor_one_returns_a_copy() -> None:
    wave = np.arange(10, dtype=np.float32)
    out = speed_perturb(wave, 1.0)
    np.testing.assert_array_equal(out, wave)
    assert out is not wave


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_sine_frequency_scales_by_factor(factor: float) -> None:
    t = np.arange(SR) / SR
    out = speed_perturb(np.sin(2 * np.pi * 1_000.0 * t).astype(np.float32), factor)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = spectrum.argmax() * SR / len(out)
    assert peak_hz == pytest.approx(1_000.0 * factor, abs=2.0)


def test_validation() -> None:
    with pytest.raises(ValueError, match="factor"):
        speed_perturb(np.zeros(10, dtype=np.float32), 0.0)
    with pytest.raises(ValueError, match="factor"):
        speed_perturb(np.zeros(10, dtype=np.float32), float("nan"))
    with pytest.raises(ValueError, match="1-D"):
        speed_perturb(np.zeros((2, 10), dtype=np.float32), 1.1)
