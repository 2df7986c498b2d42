"""Mel filterbank against hand-written reference formulas, and known values on a sine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from speechnas.features import LogMel, mel_filterbank
from speechnas.features.mel import hz_to_mel, mel_to_hz

SR = 16_000
N_FFT = 512


def _centres(n_mels: int, f_min: float = 20.0, f_max: float = 8_000.0) -> np.ndarray:
    mels = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    return mel_to_hz(mels)[1:-1]


def _sine(freq: float, num_samples: int = SR) -> torch.Tensor:
    t = torch.arange(num_samples, dtype=torch.float64) / SR
    return torch.sin(2 * math.pi * freq * t).to(torch.float32)[None, :]  # (1, S)


def test_mel_scales_match_reference_values() -> None:
    # HTK: 2595 log10(1 + f / 700), written out for three values.
    for f in (0.0, 700.0, 1_000.0, 4_000.0):
        assert hz_to_mel(f, "htk") == pytest.approx(2595.0 * math.log10(1.0 + f / 700.0))
    assert hz_to_mel(700.0, "htk") == pytest.approx(2595.0 * math.log10(2.0))
    # Slaney (librosa htk=False): linear 3f/200 below 1 kHz, 15 + 27 ln(f/1000)/ln(6.4) above.
    assert hz_to_mel(500.0, "slaney") == pytest.approx(7.5)
    assert hz_to_mel(1_000.0, "slaney") == pytest.approx(15.0)
    assert hz_to_mel(6_400.0, "slaney") == pytest.approx(42.0)
    for scale in ("htk", "slaney"):
        freqs = np.array([0.0, 123.0, 999.0, 1_000.0, 5_555.0, 8_000.0])
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs, scale), scale), freqs, atol=1e-8)


@pytest.mark.parametrize("n_mels", [40, 64, 80])
@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_filterbank_shape_and_no_empty_filter(n_mels: int, scale: str) -> None:
    fb = mel_filterbank(N_FFT, n_mels, SR, mel_scale=scale)  # type: ignore[arg-type]
    assert fb.shape == (N_FFT // 2 + 1, n_mels)
    assert fb.dtype == torch.float32
    assert (fb >= 0).all()
    assert (fb.sum(0) > 0).all()
    assert fb.max() <= 1.0


@pytest.mark.parametrize("n_mels", [40, 80])
@pytest.mark.parametrize("n_fft", [N_FFT, SR])
def test_each_filter_peaks_at_its_centre(n_mels: int, n_fft: int) -> None:
    fb = mel_filterbank(n_fft, n_mels, SR).numpy()
    centres = _centres(n_mels)
    bin_hz = SR / n_fft
    peak_freqs = np.arange(n_fft // 2 + 1)[fb.argmax(axis=0)] * bin_hz
    # The best bin is one of the two around the centre: unequal slopes may favour the farther.
    assert np.all(np.abs(peak_freqs - centres) <= bin_hz + 1e-9)
    if n_fft == SR:  # 1 Hz bins: the peak value is close to 1, even for the narrowest filter
        assert np.all(fb.max(axis=0) > 0.95)


def test_filter_values_match_triangle_formula() -> None:
    fb = mel_filterbank(N_FFT, 40, SR).numpy()
    corners = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(8_000.0), 42))
    for m, k in [(0, 1), (10, 12), (25, 60), (39, 250)]:
        f = k * SR / N_FFT
        lo, centre, hi = corners[m], corners[m + 1], corners[m + 2]
        expected = max(0.0, min((f - lo) / (centre - lo), (hi - f) / (hi - centre)))
        assert fb[k, m] == pytest.approx(expected, abs=1e-6)


def test_htk_filters_sum_to_one_between_first_and_last_centre() -> None:
    fb = mel_filterbank(N_FFT, 80, SR).numpy()
    centres = _centres(80)
    bin_freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    inside = (bin_freqs >= centres[0]) & (bin_freqs <= centres[-1])
    np.testing.assert_allclose(fb[inside].sum(axis=1), 1.0, atol=1e-6)


def test_slaney_norm_gives_unit_area_filters() -> None:
    fb = mel_filterbank(N_FFT, 40, SR, mel_scale="slaney", norm="slaney").numpy()
    area = fb.sum(axis=0) * SR / N_FFT  # Riemann sum over the bins
    np.testing.assert_allclose(area[20:], 1.0, rtol=0.02)  # wide filters only


def test_filterbank_validation() -> None:
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(N_FFT, 0, SR)
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(N_FFT, 40, SR, f_max=9_000.0)
    with pytest.raises(ValueError, match="f_min"):
        mel_filterbank(N_FFT, 40, SR, f_min=-1.0)
    with pytest.raises(ValueError, match="mel_scale"):
        hz_to_mel(1.0, "bark")  # type: ignore[arg-type]


def test_power_spectrum_of_1khz_sine_peaks_at_bin_32() -> None:
    frontend = LogMel(80, normalize="none")
    power, lens = frontend.spectrum(_sine(1_000.0), torch.tensor([SR]))
    assert power.shape == (1, 98, 257)
    assert (power[0].argmax(dim=-1) == 32).all()  # 1000 Hz / (16000 / 512) Hz per bin


@pytest.mark.parametrize("n_mels", [40, 64, 80])
@pytest.mark.parametrize("freq", [1_000.0, 440.0, 3_000.0])
def test_sine_energy_lands_in_nearest_band(n_mels: int, freq: float) -> None:
    feats, _ = LogMel(n_mels, normalize="none")(_sine(freq), torch.tensor([SR]))
    expected_band = int(np.abs(_centres(n_mels) - freq).argmin())
    assert (feats[0].argmax(dim=-1) == expected_band).all()


def test_silence_is_log_epsilon() -> None:
    feats, _ = LogMel(40, normalize="none")(torch.zeros(1, 800), torch.tensor([800]))
    torch.testing.assert_close(feats, torch.full_like(feats, math.log(1e-6)))
