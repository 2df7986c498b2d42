"""The target interface: a runtime on a device, on which a model is measured.

Legend: B batch, S samples.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor

from speechnas.models import SpeechModel

__all__ = ["Recognizer", "Target"]


class Recognizer(Protocol):
    """Anything that transcribes waveforms to token ids, greedily."""

    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        """``wave (B, S)``, ``wave_lens (B,)`` -> token ids per utterance."""
        ...


class Target(abc.ABC):
    """A named place a model runs: a runtime (PyTorch eager, ONNX Runtime) on a device.

    Contract (``tests/hardware/test_targets.py`` runs every target through it):

    * ``name`` is stable (it keys lookup tables and records) and ``threads`` is the CPU
      thread count the target runs with.
    * ``unavailable()`` returns ``None`` where the target can run here, else the reason
      (no GPU, no ONNX Runtime); the other methods may then raise.
    * ``prepare(model, workdir)`` returns a :class:`Recognizer` that runs ``model`` on the
      target. Its greedy output equals the model's own in PyTorch on the CPU (up to float
      rounding; a quantised target may differ). ``workdir`` holds any files it needs
      (exported graphs). The model is not changed, except that it is put in eval mode.
    * ``describe()`` says what a measurement was taken on: device, runtime and precision,
      threads and library versions, as a JSON-safe dict.
    * ``supports_streaming``: whether chunk-by-chunk runs are measured on this target.
    """

    name: str
    threads: int
    supports_streaming: bool = False

    @abc.abstractmethod
    def unavailable(self) -> str | None:
        """Why this target cannot run here, or ``None``."""

    @abc.abstractmethod
    def prepare(self, model: SpeechModel, workdir: Path) -> Recognizer:
        """A recognizer that runs ``model`` on this target."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Device, runtime, precision, threads and versions (JSON-safe)."""
