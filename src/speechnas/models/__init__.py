"""Model builder: architecture specs become ``nn.Module``s here and nowhere else."""

from __future__ import annotations

from speechnas.models._blocks import Norm
from speechnas.models._layer import EncoderLayer
from speechnas.models.builder import build_model
from speechnas.models.model import SpeechModel

__all__ = ["EncoderLayer", "Norm", "SpeechModel", "build_model"]
