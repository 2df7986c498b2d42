"""What runs a model: the recognizer and chunk-stream protocols every runtime implements.

A PyTorch model, an ONNX Runtime session and a model on a hardware target all transcribe
through :class:`Recognizer`; streaming runs through :class:`ChunkStream`. Evaluation, export
and hardware measurement depend on these protocols, not on one another.

Legend: B batch, S samples, Cf feature frames of a chunk, F feature bins.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

__all__ = ["ChunkStream", "NotMeasurable", "Recognizer"]


class NotMeasurable(Exception):
    """This target cannot run this model (e.g. the exporter fails for its architecture)."""


class Recognizer(Protocol):
    """Anything that transcribes waveforms to token ids, greedily."""

    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        """``wave (B, S)``, ``wave_lens (B,)`` -> token ids per utterance."""
        ...


class ChunkStream(Protocol):
    """A live chunk-by-chunk run of a streaming model on a target."""

    def push(self, feats: Tensor) -> int:
        """Feed the next chunk's ``(1, Cf, F)`` feature frames; decode the encoder frames it
        completes (greedily) and return how many there were."""
        ...
