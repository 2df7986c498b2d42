"""Waveform augmentation with numpy/scipy: speed, pitch, room reverb, noise and level.

Every function takes and returns a 1-D float32 waveform of shape ``(num_samples,)``; those that
draw random numbers take an explicit :class:`numpy.random.Generator` and never touch a global RNG.

Pitch: a true pitch shift at constant tempo needs a time-stretch (phase vocoder or WSOLA), which
is slow and audibly smeary on synthetic speech. Instead :func:`shift_pitch` resamples, which
raises pitch *and* formants by ``2 ** (semitones / 12)`` and shortens the audio by the same
factor (like a smaller vocal tract speaking faster). :mod:`speechnas.synth._render` undoes the
tempo change by asking the TTS engine to speak slower by that factor first, so the net effect is
a pitch/formant shift at the intended speaking rate. The engines' own pitch options (espeak-ng
``-p``, festival's F0 model) give a second, formant-preserving kind of pitch change.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.signal import fftconvolve

from speechnas.features.perturb import speed_perturb

__all__ = [
    "NOISE_COLOURS",
    "add_noise",
    "add_reverb",
    "change_speed",
    "coloured_noise",
    "peak_normalize",
    "shift_pitch",
    "synthetic_rir",
]

NoiseColour = Literal["white", "pink", "brown"]
NOISE_COLOURS: tuple[NoiseColour, ...] = ("white", "pink", "brown")
#: Spectral slope exponent: power spectral density ~ 1 / f**beta.
_NOISE_BETA = {"white": 0.0, "pink": 1.0, "brown": 2.0}
#: ln(1000): amplitude falls by 60 dB after rt60 seconds.
_LN_1000 = float(np.log(1000.0))


def _as_wave(wave: np.ndarray) -> np.ndarray:
    if wave.ndim != 1:
        raise ValueError(f"wave must be 1-D (num_samples,), got shape {wave.shape}")
    return np.asarray(wave, dtype=np.float32)


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """Play ``wave`` ``factor`` times faster: :func:`speechnas.features.speed_perturb`.

    Tempo and pitch change together, as in Kaldi/lhotse speed perturbation (typical factors
    0.9-1.1).

    Args:
        wave: Waveform, shape ``(num_samples,)``.
        factor: Speed factor ``> 0``; ``1.1`` gives about ``num_samples / 1.1`` samples.

    Returns:
        float32 waveform of shape ``(ceil(num_samples / factor),)``.
    """
    if not factor > 0:
        raise ValueError(f"factor must be > 0, got {factor}")
    return speed_perturb(_as_wave(wave), factor)


def shift_pitch(wave: np.ndarray, semitones: float) -> np.ndarray:
    """Raise pitch and formants by ``semitones`` by resampling (duration shrinks accordingly).

    ``shift_pitch(x, s)`` is ``change_speed(x, 2 ** (s / 12))``: the output is
    ``2 ** (s / 12)`` times shorter. To keep the speaking rate, synthesise the speech that much
    slower first (see the module docstring).
    """
    return change_speed(wave, 2.0 ** (semitones / 12.0))


def coloured_noise(
    num_samples: int, rng: np.random.Generator, colour: NoiseColour = "white"
) -> np.ndarray:
    """Gaussian noise with a ``1 / f**beta`` power spectrum and unit RMS.

    Args:
        num_samples: Output length.
        rng: Source of randomness.
        colour: ``"white"`` (flat), ``"pink"`` (-3 dB/octave) or ``"brown"`` (-6 dB/octave).

    Returns:
        float32 array of shape ``(num_samples,)``.
    """
    if colour not in _NOISE_BETA:
        raise ValueError(f"colour must be one of {NOISE_COLOURS}, got {colour!r}")
    if num_samples <= 0:
        return np.zeros(0, dtype=np.float32)
    white = rng.standard_normal(num_samples)
    beta = _NOISE_BETA[colour]
    if beta == 0.0:
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.arange(spectrum.shape[0], dtype=np.float64)
        freqs[0] = 1.0  # keep DC finite; it is zeroed below
        spectrum *= freqs ** (-beta / 2.0)
        spectrum[0] = 0.0
        noise = np.fft.irfft(spectrum, n=num_samples)
    rms = float(np.sqrt(np.mean(noise**2)))
    return (noise / rms if rms > 0 else noise).astype(np.float32)


def add_noise(
    wave: np.ndarray,
    rng: np.random.Generator,
    snr_db: float,
    colour: NoiseColour = "white",
) -> np.ndarray:
    """Add generated noise at exactly ``snr_db`` dB signal-to-noise ratio.

    The SNR is the ratio of mean powers over the whole waveform, silences included, so the
    added noise is sized from the actual noise drawn (not its expectation). A silent input is
    returned unchanged. The result may exceed [-1, 1]; normalise afterwards.

    Args:
        wave: Clean waveform, shape ``(num_samples,)``.
        rng: Source of randomness for the noise.
        snr_db: Target SNR in dB (the corpus draws it from 10-30 dB).
        colour: Noise colour, see :func:`coloured_noise`.

    Returns:
        float32 waveform of the same shape.
    """
    x = _as_wave(wave)
    signal_power = float(np.mean(x.astype(np.float64) ** 2)) if x.size else 0.0
    if signal_power == 0.0:
        return x.copy()
    noise = coloured_noise(x.shape[0], rng, colour).astype(np.float64)
    noise_power = float(np.mean(noise**2))
    scale = np.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return np.asarray(x + scale * noise, dtype=np.float32)


def synthetic_rir(
    rng: np.random.Generator,
    rt60: float,
    sample_rate: int = 16_000,
    direct_to_reverb_db: float = 3.0,
) -> np.ndarray:
    """A room impulse response: a direct path then exponentially decaying Gaussian noise.

    The tail decays by 60 dB over ``rt60`` seconds (the classic statistical reverb model) and
    starts 2.5 ms after the direct path; its energy is ``direct_to_reverb_db`` below the direct
    path's.

    Args:
        rng: Source of randomness for the tail.
        rt60: Reverberation time in seconds, ``> 0`` (small rooms 0.2-0.6 s).
        sample_rate: Sample rate of the response.
        direct_to_reverb_db: Direct-to-reverberant energy ratio in dB.

    Returns:
        float32 impulse response of shape ``(int(rt60 * sample_rate) + 1,)`` with ``h[0] = 1``.
    """
    if not rt60 > 0:
        raise ValueError(f"rt60 must be > 0, got {rt60}")
    length = int(rt60 * sample_rate) + 1
    t = np.arange(length, dtype=np.float64) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-_LN_1000 * t / rt60)
    tail[: max(1, int(0.0025 * sample_rate))] = 0.0
    energy = float(np.sum(tail**2))
    if energy > 0:
        tail *= np.sqrt(10.0 ** (-direct_to_reverb_db / 10.0) / energy)
    tail[0] = 1.0
    return tail.astype(np.float32)


def add_reverb(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve ``wave`` with ``rir`` (FFT convolution), keeping the input length.

    The reverberant tail past the end of the input is cut: synthetic utterances end in
    silence, which absorbs most of it.
    """
    x = _as_wave(wave)
    if x.size == 0:
        return x.copy()
    wet = np.asarray(fftconvolve(x, _as_wave(rir), mode="full"), dtype=np.float32)
    return wet[: x.shape[0]]


def peak_normalize(wave: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale so that ``max(|wave|) == peak`` and clip to [-1, 1]; silence stays silent.

    Args:
        wave: Waveform, shape ``(num_samples,)``.
        peak: Target peak amplitude in ``(0, 1]``.

    Returns:
        float32 waveform of the same shape, finite and within [-1, 1].
    """
    if not 0 < peak <= 1:
        raise ValueError(f"peak must be in (0, 1], got {peak}")
    x = np.nan_to_num(_as_wave(wave), nan=0.0, posinf=0.0, neginf=0.0)
    current = float(np.max(np.abs(x))) if x.size else 0.0
    if current > 0:
        x = x * np.float32(peak / current)
    return np.asarray(np.clip(x, -1.0, 1.0), dtype=np.float32)
