"""Measured inference memory, and a model of it fitted on measurements.

:func:`measure_peak_memory` runs one model in a fresh process and reads, from Linux's
``/proc/self/status``, its resident memory before inference and its high-water mark during
inference. :class:`MemoryModel` keeps such records for one machine and fits
``memory ~ a + b * weight bytes + c * analytic activation bytes`` to them, so that a spec's
inference memory can be predicted without running it.

What is measured (all in MB of 10^6 bytes, as ``memory_mb`` elsewhere):

* ``baseline_mb``: the process's resident memory after the model is built and has
  transcribed a short warm-up input (so lazily loaded kernels and thread pools are in it),
  just before inference; it includes the interpreter and torch.
* ``peak_mb``: the high-water mark of resident memory during one greedy transcription of
  ``audio_s`` seconds of noise at batch 1, the mark having been reset just before it.
* ``inference_mb`` = peak - baseline: what inference adds (activations, workspaces, any
  transient copies of weights).
* ``memory_mb`` = weights + inference: the model's measured footprint, the counterpart of the
  analytic estimate ``analytic_mb`` = weights + estimated activations
  (:meth:`~speechnas.models.SpeechModel.activation_bytes`).

Every measurement runs in a fresh spawned process: memory that an earlier model left in the
allocator's free lists would otherwise be reused and hide growth. The warm-up input is short
for the same reason (a warm-up as long as the measured run would leave its buffers in the
allocator's cache).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from speechnas._provenance import run_info
from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.hardware._files import write_json

if TYPE_CHECKING:
    from speechnas.models import SpeechModel

__all__ = [
    "MIN_RECORDS",
    "MemoryModel",
    "MemoryPrediction",
    "MemoryRecord",
    "analytic_memory_bytes",
    "measure_peak_memory",
    "peak_memory_unavailable",
    "profile_memory",
]

#: Bumped when the file's meaning changes; files of another version are refused.
MEMORY_VERSION = 1
#: Measured models needed to fit a :class:`MemoryModel`.
MIN_RECORDS = 8

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
#: Writing this to ``clear_refs`` resets the peak resident set size (Linux >= 4.0).
_RESET_PEAK_RSS = "5"
_MB = 1e6


def analytic_memory_bytes(model: SpeechModel, audio_s: float) -> tuple[int, int]:
    """The analytic estimate of ``model``'s inference memory: float32 weight bytes and
    estimated peak activation bytes for ``audio_s`` seconds at batch 1."""
    return model.num_params() * 4, model.activation_bytes(audio_s)


def peak_memory_unavailable() -> str | None:
    """Why peak inference memory cannot be measured here, or ``None`` where it can."""
    if not sys.platform.startswith("linux"):
        return f"peak memory is read from Linux's /proc; this is {sys.platform}"
    if not _CLEAR_REFS.exists():
        return f"{_CLEAR_REFS} does not exist (a kernel without it cannot reset the peak)"
    if not os.access(_CLEAR_REFS, os.W_OK):
        return f"{_CLEAR_REFS} is not writable here, so the peak cannot be reset"
    return None


@dataclass(frozen=True)
class MemoryRecord:
    """One model's measured inference memory (see the module docstring for each field).

    Attributes:
        spec: the architecture measured.
        audio_s: seconds of audio transcribed.
        threads: torch intra-op threads it ran with.
        baseline_mb: resident MB before inference.
        peak_mb: peak resident MB during inference.
        weights_mb: float32 parameter MB.
        activation_mb: the analytic activation estimate, MB.
    """

    spec: ArchSpec
    audio_s: float
    threads: int
    baseline_mb: float
    peak_mb: float
    weights_mb: float
    activation_mb: float

    @property
    def inference_mb(self) -> float:
        """What inference added to the resident memory (peak - baseline)."""
        return self.peak_mb - self.baseline_mb

    @property
    def memory_mb(self) -> float:
        """Measured footprint: weights plus what inference added."""
        return self.weights_mb + self.inference_mb

    @property
    def analytic_mb(self) -> float:
        """The analytic estimate the search used to report: weights plus activations."""
        return self.weights_mb + self.activation_mb

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "audio_s": self.audio_s,
            "threads": self.threads,
            "baseline_mb": self.baseline_mb,
            "peak_mb": self.peak_mb,
            "weights_mb": self.weights_mb,
            "activation_mb": self.activation_mb,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryRecord:
        """Inverse of :meth:`to_dict`; a missing key raises ``KeyError``, a bad value
        ``ValueError`` or ``TypeError``."""
        return cls(
            spec=ArchSpec.from_dict(data["spec"]),
            audio_s=float(data["audio_s"]),
            threads=int(data["threads"]),
            baseline_mb=float(data["baseline_mb"]),
            peak_mb=float(data["peak_mb"]),
            weights_mb=float(data["weights_mb"]),
            activation_mb=float(data["activation_mb"]),
        )


def _resident_mb() -> tuple[float, float]:
    """This process's (current, peak) resident MB from ``/proc/self/status``."""
    text = _STATUS.read_text()
    kb = {}
    for key in ("VmRSS", "VmHWM"):
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"{_STATUS} has no {key} line")
        kb[key] = int(match.group(1))
    return kb["VmRSS"] * 1024 / _MB, kb["VmHWM"] * 1024 / _MB


def _reset_peak() -> None:
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK_RSS)
    except OSError as e:
        raise RuntimeError(f"cannot reset the peak resident memory via {_CLEAR_REFS}: {e}") from e


def _measure_here(
    spec_data: dict[str, Any], audio_s: float, threads: int, warmup_s: float
) -> dict[str, float]:
    """The body of one measurement, run in the fresh process."""
    import torch

    from speechnas.hardware.measure import untrained_model
    from speechnas.timing import noise

    torch.set_num_threads(threads)
    spec = ArchSpec.from_dict(spec_data)
    model = untrained_model(spec)
    weights, activations = analytic_memory_bytes(model, audio_s)
    warm = noise(warmup_s, seed=1)
    wave = noise(audio_s)
    with torch.no_grad():
        model.transcribe_ids(warm, torch.tensor([warm.shape[1]]))
        del warm
        gc.collect()
        lens = torch.tensor([wave.shape[1]])
        baseline, _ = _resident_mb()
        _reset_peak()
        model.transcribe_ids(wave, lens)
        current, peak = _resident_mb()
    return {
        "baseline_mb": baseline,
        "peak_mb": max(peak, current),
        "weights_mb": weights / _MB,
        "activation_mb": activations / _MB,
    }


def measure_peak_memory(
    spec: ArchSpec, audio_s: float, threads: int = 1, *, warmup_s: float = 0.5
) -> MemoryRecord:
    """Measure ``spec``'s inference memory in a fresh process (see the module docstring).

    The untrained model (:func:`~speechnas.hardware.measure.untrained_model`) transcribes
    ``warmup_s`` seconds of seeded noise, then the peak resident memory is reset (writing
    ``5`` to ``/proc/self/clear_refs`` sets it to the current resident memory) and it
    transcribes ``audio_s`` seconds, batch 1, greedily; the input waveform already exists
    before the baseline is read. There is no fallback where the peak cannot be reset: a peak
    since process start would mostly measure model building and imports.

    Args:
        spec: the architecture.
        audio_s: seconds of audio to transcribe.
        threads: torch intra-op threads.
        warmup_s: seconds of the warm-up transcription (short; see the module docstring).

    Raises:
        RuntimeError: the peak cannot be measured here (not Linux, ``/proc/self/clear_refs``
            missing or not writable); :func:`peak_memory_unavailable` says so beforehand.
    """
    reason = peak_memory_unavailable()
    if reason is not None:
        raise RuntimeError(f"cannot measure peak memory: {reason}")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        raw = pool.submit(_measure_here, spec.to_dict(), audio_s, threads, warmup_s).result()
    return MemoryRecord(spec=spec, audio_s=audio_s, threads=threads, **raw)


class MemoryPrediction(NamedTuple):
    """Predicted inference memory (weights plus what inference adds), with a 10-90% band."""

    memory_mb: float
    low_mb: float
    high_mb: float


@dataclass(frozen=True)
class _Fit:
    """``memory_mb ~ coef @ [1, weights_mb, activation_mb]``; ``low``/``high``: relative
    residual quantiles that make the band."""

    coef: tuple[float, float, float]
    low: float
    high: float


def _solve(weights: np.ndarray, activations: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Least squares on relative error: intercept free, slopes non-negative."""
    from scipy.optimize import lsq_linear

    # Dividing each row by its measurement makes the residuals relative, so small models
    # (a few MB) count as much as large ones: the error that matters for a budget.
    x = np.column_stack([np.ones_like(weights), weights, activations]) / measured[:, None]
    bounds = ([-np.inf, 0.0, 0.0], [np.inf, np.inf, np.inf])
    return np.asarray(lsq_linear(x, np.ones_like(measured), bounds=bounds).x)


def _apply(coef: Sequence[float] | np.ndarray, weights_mb: float, activation_mb: float) -> float:
    """The fitted line at one point, never below the weights."""
    return max(float(np.dot(coef, [1.0, weights_mb, activation_mb])), weights_mb)


def _fit(records: Sequence[MemoryRecord]) -> _Fit:
    weights = np.array([r.weights_mb for r in records])
    activations = np.array([r.activation_mb for r in records])
    measured = np.array([r.memory_mb for r in records])
    coef = _solve(weights, activations, measured)
    # The band comes from leave-one-out residuals: how far off the fit is on a model it was
    # not fitted on, which is what every prediction in a search faces.
    residuals = []
    for i in range(len(records)):
        keep = np.arange(len(records)) != i
        c = _solve(weights[keep], activations[keep], measured[keep])
        predicted = _apply(c, float(weights[i]), float(activations[i]))
        residuals.append(measured[i] / predicted - 1.0)
    low, high = np.quantile(residuals, [0.1, 0.9])
    # The band always holds the prediction itself.
    return _Fit(
        (float(coef[0]), float(coef[1]), float(coef[2])),
        min(float(low), 0.0),
        max(float(high), 0.0),
    )


class MemoryModel:
    """Inference memory of any spec, fitted on measured records of one machine.

    ``memory_mb ~ a + b * weights_mb + c * activation_mb``, where the features are a spec's
    float32 weights and the analytic activation estimate
    (:func:`analytic_memory_bytes`), and the target is the measured footprint
    :attr:`MemoryRecord.memory_mb`. Least squares on relative error with ``b, c >= 0``;
    a prediction is never below the weights. The 10-90% band is the prediction times one
    plus the 10th and 90th percentiles of the leave-one-out relative residuals. Fitting needs
    :data:`MIN_RECORDS` records.

    Args:
        audio_s: seconds of audio every record transcribed (and predictions are for).
        threads: torch threads every record ran with.
        machine: where the records were measured (default: this machine's
            :func:`~speechnas._provenance.run_info`).

    Example::

        memory = MemoryModel.load("memory-cpu1.json")
        mb, low, high = memory.predict(ArchSpec.uniform(num_layers=4, width=144))
    """

    def __init__(
        self, audio_s: float, threads: int, machine: dict[str, Any] | None = None
    ) -> None:
        self.audio_s = audio_s
        self.threads = threads
        self.machine = machine if machine is not None else run_info()
        self.records: list[MemoryRecord] = []
        self._fit: _Fit | None = None

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: MemoryRecord) -> None:
        """Add one measurement.

        Raises:
            ValueError: it was taken at another audio length or thread count.
        """
        if abs(record.audio_s - self.audio_s) > 1e-9 or record.threads != self.threads:
            raise ValueError(
                f"record of {record.audio_s:g} s with {record.threads} thread(s) does not "
                f"belong to a model of {self.audio_s:g} s with {self.threads} thread(s)"
            )
        self.records.append(record)
        self._fit = None

    def fit(self) -> MemoryModel:
        """Fit now (predictions fit on first use otherwise); returns ``self``.

        Raises:
            ValueError: fewer than :data:`MIN_RECORDS` records.
        """
        self._fitted()
        return self

    def _fitted(self) -> _Fit:
        if self._fit is None:
            if len(self.records) < MIN_RECORDS:
                raise ValueError(
                    f"{len(self.records)} measured model(s); at least {MIN_RECORDS} are "
                    "needed to fit the memory model"
                )
            self._fit = _fit(self.records)
        return self._fit

    @property
    def coefficients(self) -> tuple[float, float, float]:
        """``(a MB, b, c)`` of the fit."""
        return self._fitted().coef

    def predict_from(self, weights_mb: float, activation_mb: float) -> MemoryPrediction:
        """Prediction from the features directly (MB of weights and analytic activations)."""
        fit = self._fitted()
        mid = _apply(fit.coef, weights_mb, activation_mb)
        return MemoryPrediction(mid, mid * (1.0 + fit.low), mid * (1.0 + fit.high))

    def predict(self, spec: ArchSpec, model: SpeechModel | None = None) -> MemoryPrediction:
        """Predicted inference memory of ``spec`` at :attr:`audio_s` seconds.

        Builds the untrained model (tens of milliseconds) unless ``model`` is given.

        Raises:
            ValueError: fewer than :data:`MIN_RECORDS` records.
        """
        from speechnas.hardware.measure import untrained_model

        weights, activations = analytic_memory_bytes(model or untrained_model(spec), self.audio_s)
        return self.predict_from(weights / _MB, activations / _MB)

    # --- files ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": MEMORY_VERSION,
            "audio_s": self.audio_s,
            "threads": self.threads,
            "machine": self.machine,
            "records": [r.to_dict() for r in self.records],
        }
        if len(self.records) >= MIN_RECORDS:
            fit = self._fitted()
            out["fit"] = {"coef": list(fit.coef), "low": fit.low, "high": fit.high}
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the records (and, for reading, the fit) as JSON, atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MemoryModel:
        """Read a file written by :meth:`save` (the fit is recomputed from the records).

        Raises:
            UserError: missing or unreadable file, another version, or a malformed record
                (the message names the file and the field).
        """
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise UserError(f"memory table not found: {p}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"{p}: not a readable memory table: {e}") from None
        version = data.get("version") if isinstance(data, dict) else None
        if version != MEMORY_VERSION:
            raise UserError(
                f"{p}: memory table version {version!r}, expected {MEMORY_VERSION} "
                "(measure again with speechnas profile --export-memory)"
            )
        try:
            memory = cls(float(data["audio_s"]), int(data["threads"]), dict(data["machine"]))
            records = list(data["records"])
        except KeyError as e:
            raise UserError(f"{p}: memory table is missing the field {e}") from None
        except (TypeError, ValueError) as e:
            raise UserError(f"{p}: bad memory table header: {e}") from None
        for i, raw in enumerate(records):
            try:
                memory.add(MemoryRecord.from_dict(raw))
            except KeyError as e:
                raise UserError(f"{p}: records[{i}] is missing the field {e}") from None
            except (TypeError, ValueError) as e:
                raise UserError(f"{p}: records[{i}]: {e}") from None
        return memory


def profile_memory(
    specs: Sequence[ArchSpec],
    memory: MemoryModel,
    *,
    on_record: Callable[[int, MemoryRecord], None] | None = None,
) -> MemoryModel:
    """Measure every spec that ``memory`` does not hold yet into it, each in a fresh process,
    at its audio length and thread count (:func:`measure_peak_memory`).

    Args:
        on_record: called after each new measurement with its index in ``specs`` and record.
    """
    held = {r.spec.arch_id for r in memory.records}
    for i, spec in enumerate(specs):
        if spec.arch_id in held:
            continue
        record = measure_peak_memory(spec, memory.audio_s, memory.threads)
        memory.add(record)
        held.add(spec.arch_id)
        if on_record is not None:
            on_record(i, record)
    return memory
