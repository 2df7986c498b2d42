"""Model builder: architecture specs become ``nn.Module``s here and nowhere else."""

from __future__ import annotations

from speechnas.models.builder import build_model
from speechnas.models.model import SpeechModel

__all__ = ["SpeechModel", "build_model"]
