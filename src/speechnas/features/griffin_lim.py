"""Audio from a log-mel spectrogram with no trained vocoder: Griffin-Lim phase recovery.

A TTS model predicts log-mel frames (:class:`~speechnas.features.mel.LogMel` with
``normalize="none"``: log power in mel bands); to listen to them, or to score their
intelligibility with a recogniser, they must become a waveform. :func:`mel_to_magnitude`
undoes the filterbank by non-negative least squares (each frame's power spectrum that the
filters map closest to the mel frame), and :func:`griffin_lim` finds a phase for those
magnitudes (Griffin and Lim, 1984: alternate between the signal the spectrogram implies and
the spectrogram of that signal, keeping the target magnitudes). Framing is the front-end's
own (Hann window, frames from the first sample, no centring), so the audio's log-mel is
close to the one it came from. Quality is Griffin-Lim's: intelligible, buzzy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from speechnas.features.mel import LogMel

__all__ = ["griffin_lim", "mel_to_magnitude", "vocode"]


def mel_to_magnitude(log_mel: Tensor, filters: Tensor, *, iterations: int = 60) -> Tensor:
    """(T, M) log mel power -> (T, K) magnitude spectra, ``K`` the filters' FFT bins.

    Non-negative least squares by projected gradient from the pseudo-inverse's clipped
    solution (a few dozen steps; exact NNLS is not needed for listening).
    """
    target = torch.exp(log_mel.double())  # (T, M) mel power
    fb = filters.double()  # (K, M)
    power = (target @ torch.linalg.pinv(fb)).clamp_min(0.0)  # (T, K)
    step = 1.0 / float(torch.linalg.matrix_norm(fb, ord=2) ** 2)
    for _ in range(iterations):
        grad = (power @ fb - target) @ fb.T
        power = (power - step * grad).clamp_min(0.0)
    magnitude: Tensor = power.sqrt().to(log_mel.dtype)
    return magnitude


def _frames_to_wave(spec: Tensor, window: Tensor, n_fft: int, hop: int) -> Tensor:
    """Overlap-add inverse of the framed FFT, window-squared normalised: (T, K) -> (S,)."""
    win = window.shape[0]
    frames = torch.fft.irfft(spec, n=n_fft)[:, :win] * window  # (T, win)
    length = (frames.shape[0] - 1) * hop + win
    wave = torch.zeros(length, dtype=frames.dtype)
    weight = torch.zeros(length, dtype=frames.dtype)
    for t in range(frames.shape[0]):
        wave[t * hop : t * hop + win] += frames[t]
        weight[t * hop : t * hop + win] += window**2
    return wave / weight.clamp_min(1e-3)


def _wave_to_frames(wave: Tensor, window: Tensor, n_fft: int, hop: int) -> Tensor:
    frames = wave.unfold(0, window.shape[0], hop) * window  # (T, win)
    spec: Tensor = torch.fft.rfft(frames, n=n_fft)
    return spec


def griffin_lim(
    magnitude: Tensor,
    *,
    n_fft: int,
    win_length: int,
    hop_length: int,
    iterations: int = 32,
    seed: int = 0,
) -> Tensor:
    """(T, K) magnitude spectra -> (S,) waveform whose spectrogram has (nearly) them."""
    window = torch.hann_window(win_length, dtype=magnitude.dtype)
    generator = torch.Generator().manual_seed(seed)
    phase = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype)
    spec = magnitude * torch.exp(2j * torch.pi * phase)
    for _ in range(iterations):
        wave = _frames_to_wave(spec, window, n_fft, hop_length)
        rebuilt = _wave_to_frames(wave, window, n_fft, hop_length)
        spec = magnitude * torch.exp(1j * torch.angle(rebuilt))
    return _frames_to_wave(spec, window, n_fft, hop_length)


def vocode(log_mel: Tensor, frontend: LogMel, *, iterations: int = 32) -> Tensor:
    """(T, M) log-mel frames of ``frontend`` (``normalize="none"``) -> (S,) waveform."""
    if frontend.normalize != "none":
        raise ValueError("only raw log-mel frames (normalize='none') can be turned into audio")
    spectrum = frontend.spectrum
    magnitude = mel_to_magnitude(log_mel, frontend.filters())
    return griffin_lim(
        magnitude,
        n_fft=spectrum.n_fft,
        win_length=spectrum.win_length,
        hop_length=spectrum.hop_length,
        iterations=iterations,
    )
