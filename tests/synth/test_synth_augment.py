from __future__ import annotations

import numpy as np
import pytest

from speechnas.synth.augment import (
    NOISE_COLOURS,
    add_noise,
    add_reverb,
    change_speed,
    coloured_noise,
    peak_normalize,
    shift_pitch,
    synthetic_rir,
)

SR = 16_000


def _tone(freq: float = 440.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_freq(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * SR / len(x))


@pytest.mark.parametrize("colour", NOISE_COLOURS)
@pytest.mark.parametrize("snr_db", [10.0, 20.0, 30.0])
def test_add_noise_hits_requested_snr(colour: str, snr_db: float) -> None:
    clean = _tone()
    noisy = add_noise(clean, np.random.default_rng(0), snr_db, colour)  # type: ignore[arg-type]
    noise = noisy.astype(np.float64) - clean
    measured = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(measured - snr_db) < 0.5
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape


def test_add_noise_is_seeded_and_leaves_silence_alone() -> None:
    clean = _tone()
    a = add_noise(clean, np.random.default_rng(3), 15.0)
    b = add_noise(clean, np.random.default_rng(3), 15.0)
    np.testing.assert_array_equal(a, b)
    silence = np.zeros(100, dtype=np.float32)
    np.testing.assert_array_equal(add_noise(silence, np.random.default_rng(0), 10.0), silence)


def test_coloured_noise_spectra() -> None:
    rng = np.random.default_rng(0)
    low = {}
    for colour in NOISE_COLOURS:
        n = coloured_noise(SR, rng, colour)
        assert abs(float(np.sqrt(np.mean(n.astype(np.float64) ** 2))) - 1.0) < 1e-3
        power = np.abs(np.fft.rfft(n)) ** 2
        low[colour] = power[1:400].sum() / power.sum()  # share of energy below 400 Hz
    assert low["white"] < low["pink"] < low["brown"]


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1])
def test_change_speed_changes_length(factor: float) -> None:
    x = _tone()
    y = change_speed(x, factor)
    assert abs(len(y) - len(x) / factor) <= 2
    assert np.all(np.isfinite(y))


def test_shift_pitch_raises_frequency_and_shortens() -> None:
    x = _tone(400.0)
    y = shift_pitch(x, 12.0)  # one octave up
    assert abs(len(y) - len(x) / 2) <= 2
    assert abs(_peak_freq(y) - 800.0) < 10.0


def test_reverb_keeps_length_and_decays() -> None:
    rir = synthetic_rir(np.random.default_rng(0), rt60=0.4, sample_rate=SR)
    assert rir[0] == 1.0 and len(rir) == int(0.4 * SR) + 1
    head, tail = rir[40:1000], rir[-1000:]
    assert np.abs(tail).max() < np.abs(head).max() / 100  # ~ -60 dB by the end
    x = _tone()
    y = add_reverb(x, rir)
    assert y.shape == x.shape and np.all(np.isfinite(y))


def test_peak_normalize_bounds() -> None:
    x = 3.0 * _tone()
    x[10] = np.nan
    y = peak_normalize(x, 0.9)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) == pytest.approx(0.9, abs=1e-6)
    assert np.all(np.abs(y) <= 1.0)
    np.testing.assert_array_equal(peak_normalize(np.zeros(5, dtype=np.float32)), np.zeros(5))
    with pytest.raises(ValueError):
        peak_normalize(x, 1.5)


def test_full_chain_is_finite_and_bounded() -> None:
    rng = np.random.default_rng(5)
    x = change_speed(_tone(), 1.07)
    x = add_reverb(x, synthetic_rir(rng, 0.3))
    x = add_noise(x, rng, 10.0, "pink")
    y = peak_normalize(x, 0.95)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0
