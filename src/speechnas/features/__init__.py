"""Acoustic front-ends and augmentation: waveforms ``(B, S)`` to features ``(B, T, F)``.

Every front-end follows the :class:`Frontend` contract (``(x, x_lens)`` in and out, 25 ms
windows every 10 ms at 16 kHz by default, padding invariant). Build one by name with
:func:`build_frontend`.
"""

from __future__ import annotations

from speechnas.features._base import Frontend
from speechnas.features._framing import num_frames
from speechnas.features.learnable import LearnableFilterbank
from speechnas.features.mel import LogMel, mel_filterbank
from speechnas.features.mfcc import MFCC
from speechnas.features.perturb import speed_perturb
from speechnas.features.registry import SEARCH_N_MELS, build_frontend
from speechnas.features.specaugment import SpecAugment

__all__ = [
    "MFCC",
    "SEARCH_N_MELS",
    "Frontend",
    "LearnableFilterbank",
    "LogMel",
    "SpecAugment",
    "build_frontend",
    "mel_filterbank",
    "num_frames",
    "speed_perturb",
]
