"""Hardware: the targets models are measured on, timed runs, and latency prediction."""

from __future__ import annotations

from speechnas.hardware._base import Target
from speechnas.hardware.measure import ChunkProfile, Profile, UtteranceProfile, profile_model
from speechnas.hardware.targets import (
    TARGETS,
    OnnxCPUTarget,
    TorchCPUTarget,
    TorchCUDATarget,
    make_target,
)
from speechnas.recognizer import NotMeasurable, Recognizer
from speechnas.timing import Timing, time_calls

__all__ = [
    "TARGETS",
    "ChunkProfile",
    "NotMeasurable",
    "OnnxCPUTarget",
    "Profile",
    "Recognizer",
    "Target",
    "Timing",
    "TorchCPUTarget",
    "TorchCUDATarget",
    "UtteranceProfile",
    "make_target",
    "profile_model",
    "time_calls",
]
