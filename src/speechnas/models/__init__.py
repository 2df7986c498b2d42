"""Model builder: architecture specs become ``nn.Module``s here and nowhere else
(recognisers with :func:`build_model`, text-to-speech acoustic models with
:func:`build_tts_model`)."""

from __future__ import annotations

from speechnas.models._blocks import Norm
from speechnas.models._layer import EncoderLayer
from speechnas.models.builder import build_model
from speechnas.models.model import SpeechModel
from speechnas.models.tts import AcousticModel, build_tts_model

__all__ = [
    "AcousticModel",
    "EncoderLayer",
    "Norm",
    "SpeechModel",
    "build_model",
    "build_tts_model",
]
