"""Prosody targets: YIN finds a known pitch, silence is unvoiced, energy follows loudness,
per-token means follow the durations."""

from __future__ import annotations

import numpy as np
import pytest

from speechnas.features.prosody import frame_energy, frame_pitch, per_token

RATE = 22_050
WIN, HOP = 1024, 256


def _tone(hz: float, seconds: float = 0.5, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    # A voice-like tone: the fundamental and two harmonics.
    return amplitude * (
        np.sin(2 * np.pi * hz * t)
        + 0.5 * np.sin(4 * np.pi * hz * t)
        + 0.25 * np.sin(6 * np.pi * hz * t)
    )


@pytest.mark.parametrize("hz", [110.0, 180.0, 260.0])
def test_a_known_pitch_is_found(hz: float) -> None:
    f0 = frame_pitch(_tone(hz), RATE, win_length=WIN, hop_length=HOP)
    assert len(f0) == 1 + (len(_tone(hz)) - WIN) // HOP
    assert np.median(f0) == pytest.approx(hz, rel=0.01)


def test_silence_and_noise_are_unvoiced_and_energy_follows_loudness() -> None:
    silence = np.zeros(RATE // 2)
    assert not frame_pitch(silence, RATE, win_length=WIN, hop_length=HOP).any()
    noise = np.random.default_rng(0).normal(scale=0.3, size=RATE // 2)
    assert np.mean(frame_pitch(noise, RATE, win_length=WIN, hop_length=HOP) > 0) < 0.2
    quiet = frame_energy(_tone(150, amplitude=0.1), n_fft=WIN, win_length=WIN, hop_length=HOP)
    loud = frame_energy(_tone(150, amplitude=0.4), n_fft=WIN, win_length=WIN, hop_length=HOP)
    assert np.allclose(loud, 4 * quiet)
    with pytest.raises(ValueError, match="too short"):
        frame_pitch(silence, RATE, win_length=256, hop_length=HOP, fmin=50)


def test_per_token_means_follow_the_durations() -> None:
    track = np.array([0.0, 100, 110, 0, 200, 220, 240])
    assert per_token(track, [3, 0, 4]).tolist() == pytest.approx([70.0, 0.0, 165.0])
    assert per_token(track, [3, 0, 4], voiced_only=True).tolist() == pytest.approx(
        [105.0, 0.0, 220.0]
    )
    with pytest.raises(ValueError, match="sum to 6"):
        per_token(track, [3, 3])
