"""Mel-cepstral distortion and mel L1: zero for the same speech, blind to timing, growing
with spectral difference."""

from __future__ import annotations

import numpy as np
import pytest

from speechnas.evaluate.tts import dtw_path, mel_cepstra, mel_cepstral_distortion, mel_l1


def _speechy(frames: int = 40, bands: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(size=(frames, bands)), axis=0) * 0.2
    return base - 5.0


def test_the_same_frames_are_zero_apart_and_stretching_does_not_count() -> None:
    x = _speechy()
    assert mel_cepstral_distortion(x, x) == 0.0 and mel_l1(x, x) == 0.0
    slow = np.repeat(x, 2, axis=0)  # the same speech at half speed
    assert mel_cepstral_distortion(slow, x) == pytest.approx(0.0, abs=1e-9)
    assert dtw_path(mel_cepstra(x), mel_cepstra(x)) == [(i, i) for i in range(len(x))]


def test_the_distances_grow_with_the_difference() -> None:
    x = _speechy()
    near = x + 0.05 * _speechy(seed=1)
    far = x + 0.5 * _speechy(seed=1)
    assert 0 < mel_cepstral_distortion(near, x) < mel_cepstral_distortion(far, x)
    assert 0 < mel_l1(near, x) < mel_l1(far, x)
    # A loudness change alone moves only the 0th cepstrum, which MCD leaves out.
    assert mel_cepstral_distortion(x + 1.0, x) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="mel bands differ"):
        mel_cepstral_distortion(x, x[:, :10])


def test_a_known_cepstrum_gives_its_distortion_in_decibels() -> None:
    # A log-amplitude envelope 2 a cos(w) is the cepstrum c_1 = a: its MCD against a flat
    # envelope is (10 / ln 10) * sqrt(2) * a dB, whatever the number of bands.
    a = 0.3
    for bands in (20, 80):
        w = np.pi * (np.arange(bands) + 0.5) / bands
        log_power = 2.0 * (2.0 * a * np.cos(w))  # log power is twice the log amplitude
        x = np.tile(log_power, (5, 1))
        assert mel_cepstra(x)[0, 0] == pytest.approx(a)
        expected = 10.0 / np.log(10.0) * np.sqrt(2.0) * a
        assert mel_cepstral_distortion(x, np.zeros_like(x)) == pytest.approx(expected)
