"""Hardware: the targets models are measured on, timed runs, and latency prediction."""

from __future__ import annotations

from speechnas.hardware._base import NotMeasurable, Recognizer, Target
from speechnas.hardware.measure import (
    ChunkProfile,
    Profile,
    Timing,
    UtteranceProfile,
    profile_model,
    time_calls,
)
from speechnas.hardware.targets import (
    TARGETS,
    OnnxCPUTarget,
    TorchCPUTarget,
    TorchCUDATarget,
    make_target,
)

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
