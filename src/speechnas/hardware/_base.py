"""The target interface: a runtime on a device, on which a model is measured."""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speechnas.errors import UserError
from speechnas.models import SpeechModel
from speechnas.recognizer import ChunkStream, Recognizer

if TYPE_CHECKING:
    from speechnas.arch import ArchSpec
    from speechnas.hardware.lut import Part

__all__ = ["Target"]


class Target(abc.ABC):
    """A named place a model runs: a runtime (PyTorch eager, ONNX Runtime) on a device.

    Contract (``tests/hardware/test_targets.py`` runs every target through it):

    * ``name`` is stable (it keys lookup tables and records) and ``threads`` is the CPU
      thread count the target runs with.
    * ``unavailable()`` returns ``None`` where the target can run here, else the reason
      (no GPU, no ONNX Runtime); the other methods may then raise.
    * ``prepare(model, workdir)`` returns a :class:`~speechnas.recognizer.Recognizer` that
      runs ``model`` on the target. Its greedy output equals the model's own in PyTorch on
      the CPU (up to float rounding; a quantised target may differ). ``workdir`` holds any
      files it needs (exported graphs). The model is not changed, except that it is put in
      eval mode.
    * ``describe()`` says what a measurement was taken on: device, runtime and precision,
      threads and library versions, as a JSON-safe dict.
    * ``supports_streaming``: whether chunk-by-chunk runs are measured on this target; if so,
      ``open_stream(model, workdir)`` returns a :class:`~speechnas.recognizer.ChunkStream`
      for a streaming model, and after ``k`` whole chunks it has completed
      ``(k - delay) * frames per chunk`` encoder frames, ``delay`` being the chunks its
      look-ahead holds back (the PyTorch encoder's own stream, or the exported chunk step);
      a model it cannot stream raises :class:`~speechnas.recognizer.NotMeasurable`.
    * ``measure_parts(model, spec, ...)`` times each part of
      :func:`~speechnas.hardware.lut.model_parts` inside whole transcriptions on the target
      and returns ``(parts, median ms per part, median whole-run ms)``; the parts add up to
      the whole run (within the spread of medians), none is negative, and the same call
      gives the same parts. A target without part timing raises :class:`UserError` (the
      default); a model the target cannot run raises :class:`~speechnas.recognizer.NotMeasurable`.
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

    def energy_j(self, fn: Callable[[], object], *, repeats: int = 10) -> tuple[float, str]:
        """Joules per call of ``fn`` (a transcription on this target) and the counter that
        measured them: by default the CPU package's RAPL counter (``rapl``); a GPU target
        reads its own.

        Raises:
            NotMeasurable: no readable energy counter here.
        """
        from speechnas.hardware.energy import measure_energy_j

        return measure_energy_j(fn, repeats=repeats), "rapl"

    def open_stream(self, model: SpeechModel, workdir: Path) -> ChunkStream:
        """A live chunk stream of ``model`` on this target (see the class docstring)."""
        raise UserError(f"chunk-by-chunk runs are not measured on target {self.name!r}")

    def measure_parts(
        self,
        model: SpeechModel,
        spec: ArchSpec,
        *,
        audio_s: float = 5.0,
        warmup: int = 2,
        repeats: int = 10,
        workdir: Path,
    ) -> tuple[list[Part], list[float], float]:
        """Time each part of ``model`` (built from ``spec``) on this target.

        Runs with the caller's torch thread setting (see :func:`~speechnas.timing.threads`).
        ``workdir`` holds any files the target needs; files a target documents as reusable
        (exported graphs) are reused when they are already there, so give each model its
        own.

        Returns:
            The parts, the median milliseconds of each, and the median whole-run
            milliseconds, all from the same ``repeats`` transcriptions of ``audio_s`` s.

        Raises:
            UserError: this target has no part timing.
            NotMeasurable: this target cannot run this model.
        """
        raise UserError(f"latency tables are not measured on target {self.name!r}")
