"""Griffin-Lim from log-mel frames: audio whose log-mel is close to the frames it came from."""

from __future__ import annotations

import pytest
import torch

from speechnas.features.griffin_lim import griffin_lim, mel_to_magnitude, vocode
from speechnas.features.mel import LogMel


def _chirp(seconds: float = 0.6, rate: int = 16_000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return 0.3 * torch.sin(2 * torch.pi * (200 + 600 * t) * t) + 0.1 * torch.sin(
        2 * torch.pi * 1500 * t
    )


def _log_mel(fe: LogMel, wave: torch.Tensor) -> torch.Tensor:
    feats, _ = fe(wave[None].float(), torch.tensor([wave.shape[0]]))
    return feats[0].double()


def _distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute log-mel difference over a 35 dB range below the loudest band (the
    near-silent bands' logs say nothing about what is heard)."""
    n = min(len(a), len(b))
    floor = b.max() - 8.0
    return (a[:n].clamp_min(floor) - b[:n].clamp_min(floor)).abs().mean().item()


def test_vocoded_audio_has_nearly_the_log_mel_it_came_from() -> None:
    fe = LogMel(40, normalize="none")
    target = _log_mel(fe, _chirp())
    audio = vocode(target, fe, iterations=32)
    error = _distance(_log_mel(fe, audio), target)
    # Random phase with the right magnitudes is far off; Griffin-Lim brings it close.
    spectrum = fe.spectrum
    magnitude = mel_to_magnitude(target, fe.filters())
    raw = griffin_lim(
        magnitude,
        n_fft=spectrum.n_fft,
        win_length=spectrum.win_length,
        hop_length=spectrum.hop_length,
        iterations=0,
    )
    random_phase = _distance(_log_mel(fe, raw), target)
    assert error < 0.75 * random_phase and error < 0.3
    assert abs(len(audio) - len(_chirp())) < fe.spectrum.win_length


def test_normalised_features_cannot_be_vocoded() -> None:
    with pytest.raises(ValueError, match="normalize='none'"):
        vocode(torch.zeros(3, 40), LogMel(40))
