"""A streaming model's compute per chunk on a target, predicted from a latency table's
chunk-by-chunk records.

A chunk is a few frames, so its compute is not the whole-utterance part sum scaled down
(fixed costs per call dominate); it is fitted in log space on what describes one chunk:
``log ms ~ log MACs per chunk [+ log layers [+ log frames attended]]``. Which of these laws
holds, and whether the records of the architecture's own encoder family and head or all
records serve it better, is decided by leave-one-out error over the family's records; the
chosen fit's leave-one-out errors give the prediction's band. A law is only tried where its
columns vary (one depth, or one MACs figure, cannot teach a slope), and a prediction never
leaves the measured range by more than :data:`EXTRAPOLATION` in either direction.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from speechnas.arch import ArchSpec
from speechnas.data.audio import SAMPLE_RATE
from speechnas.models import SpeechModel
from speechnas.models.model import TOKENS_PER_SECOND

__all__ = ["ChunkEstimate", "ChunkFit", "chunk_macs", "chunk_seconds"]

#: How far (a factor) a prediction may leave the range of the measured records.
EXTRAPOLATION = 3.0

#: The band while too few records exist to leave one out: +-25%.
DEFAULT_BAND = (math.log(0.75), math.log(1.25))

#: Columns of each law (indices into :func:`_features`); ``()`` is MACs-proportional.
_LAWS: dict[str, tuple[int, ...]] = {
    "proportional": (),
    "macs": (0, 1),
    "depth": (0, 1, 2),
    "context": (0, 1, 2, 3),
}


@dataclass(frozen=True)
class ChunkEstimate:
    """Predicted compute per chunk of a streaming model on a table's target.

    ``low_ms``-``high_ms``: the 10-90% band of the fit's error on records left out of it
    (+-25% while there are fewer than three records to leave out); all three equal where
    the architecture itself was measured (``exact``).
    """

    ms: float
    low_ms: float
    high_ms: float
    exact: bool


def chunk_seconds(model: SpeechModel) -> float:
    """Audio in one encoder chunk of a streaming ``model`` (its ``input_chunk`` feature
    frames, as :func:`speechnas.hardware.measure.profile_chunks` feeds it)."""
    return float(model.encoder.input_chunk * model.frontend.hop_length / SAMPLE_RATE)


def chunk_macs(model: SpeechModel) -> int:
    """Multiply-accumulates of one encoder chunk of a streaming ``model``: the encoder on its
    ``input_chunk`` feature frames and the head on the frames that come out (attention over
    the left context is not counted: the fit's frames-attended term carries it)."""
    frames = model.encoder.input_chunk
    tokens = int(round(TOKENS_PER_SECOND * chunk_seconds(model)))
    out = model.encoder.output_frames(frames)
    return int(model.encoder.macs(frames) + model.head.macs(out, tokens))


def _features(spec: ArchSpec, macs: float) -> list[float]:
    """``[1, log MACs, log layers, log frames attended]`` of one chunk."""
    stream = spec.streaming
    attended = (stream.chunk + stream.left_context) if stream is not None else 1
    return [
        1.0,
        math.log(max(macs, 1.0)),
        math.log(max(len(spec.kept_layers), 1)),
        math.log(max(attended, 1)),
    ]


def _group(spec: ArchSpec) -> str:
    return f"{spec.encoder}:{spec.decoder.kind}"


@dataclass(frozen=True)
class _Fit:
    """One law fitted to some records: ``log ms = x[cols] @ coef`` (``cols`` empty: the
    MACs-proportional law, ``log ms = coef[0] + log MACs``)."""

    cols: tuple[int, ...]
    coef: np.ndarray

    def __call__(self, x: np.ndarray) -> float:
        if not self.cols:
            return float(self.coef[0] + x[1])
        return float(x[list(self.cols)] @ self.coef)


def _fit(cols: tuple[int, ...], x: np.ndarray, y: np.ndarray) -> _Fit | None:
    """``cols``' least squares on rows ``x``, or ``None`` where the rows cannot determine it
    (fewer than two rows per coefficient beyond the first, or a column that does not
    vary)."""
    if not cols:
        return _Fit(cols, np.array([float(np.median(y - x[:, 1]))]))
    a = x[:, list(cols)]
    if len(y) < 2 * len(cols) or np.linalg.matrix_rank(a) < len(cols):
        return None
    if any(np.ptp(a[:, j]) < 0.05 for j in range(1, len(cols))):
        return None
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    return _Fit(cols, coef)


class ChunkFit:
    """Predicts compute per chunk from chunk records (see the module docstring).

    Args:
        records: ``{"spec": dict, "compute_ms": float, "macs": int, ...}`` each (a
            :class:`~speechnas.hardware.lut.LatencyTable`'s ``chunks``); an architecture
            recorded more than once counts once, at its median.

    Raises:
        ValueError: no records.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            raise ValueError(
                "the latency table has no chunk-by-chunk records (profile streaming models "
                "on the target: speechnas profile --export)"
            )
        by_arch: dict[str, list[float]] = defaultdict(list)
        rows: dict[str, tuple[str, list[float]]] = {}
        for record in records:
            spec = ArchSpec.from_dict(dict(record["spec"]))
            by_arch[spec.arch_id].append(float(record["compute_ms"]))
            rows[spec.arch_id] = (_group(spec), _features(spec, float(record["macs"])))
        #: Median measured ms by architecture.
        self.measured = {arch: statistics.median(ms) for arch, ms in by_arch.items()}
        ids = list(self.measured)
        self._groups = [rows[a][0] for a in ids]
        self._x = np.array([rows[a][1] for a in ids])
        self._y = np.log(np.array([self.measured[a] for a in ids]))
        self._chosen: dict[str, tuple[_Fit, float, float]] = {}

    def estimate(self, spec: ArchSpec, model: SpeechModel) -> ChunkEstimate:
        """Compute per chunk of streaming ``spec`` (built as ``model``).

        Raises:
            ValueError: ``spec`` is not streaming.
        """
        if spec.streaming is None:
            raise ValueError(f"{spec.summary()} is not streaming: it has no chunks")
        own = self.measured.get(spec.arch_id)
        if own is not None:
            return ChunkEstimate(own, own, own, exact=True)
        fit, low, high = self._choose(_group(spec))
        log_ms = fit(np.array(_features(spec, chunk_macs(model))))
        margin = math.log(EXTRAPOLATION)
        log_ms = min(max(log_ms, float(self._y.min()) - margin), float(self._y.max()) + margin)
        return ChunkEstimate(
            math.exp(log_ms), math.exp(log_ms + low), math.exp(log_ms + high), exact=False
        )

    def _choose(self, group: str) -> tuple[_Fit, float, float]:
        """The fit for ``group``'s architectures and its band: of every law fitted on the
        group's records or on all records, the one with the least leave-one-out error over
        the group's records (over all records for a group with fewer than three)."""
        if group in self._chosen:
            return self._chosen[group]
        mine = np.array([g == group for g in self._groups])
        judged = np.flatnonzero(mine) if mine.sum() >= 3 else np.arange(len(self._y))
        best: tuple[float, _Fit, list[float]] | None = None
        for pool in (mine, np.ones_like(mine)):
            if pool.sum() == 0:
                continue
            for cols in _LAWS.values():
                fit = _fit(cols, self._x[pool], self._y[pool])
                if fit is None:
                    continue
                errors = self._left_out(cols, pool, judged)
                if errors is None:
                    continue
                score = float(np.mean(np.abs(errors))) if errors else math.inf
                if best is None or score < best[0]:
                    best = (score, fit, errors)
        assert best is not None  # the proportional law fits any non-empty pool
        _, fit, errors = best
        band = (
            (float(np.percentile(errors, 10)), float(np.percentile(errors, 90)))
            if len(errors) >= 3
            else DEFAULT_BAND
        )
        self._chosen[group] = (fit, *band)
        return self._chosen[group]

    def _left_out(
        self, cols: tuple[int, ...], pool: np.ndarray, judged: np.ndarray
    ) -> list[float] | None:
        """``log`` (measured / predicted) of each judged record, by ``cols`` fitted on the
        pool without it; ``None`` where some fit cannot be made."""
        errors = []
        for i in judged:
            rest = pool.copy()
            rest[i] = False
            if rest.sum() == 0:
                continue
            fit = _fit(cols, self._x[rest], self._y[rest])
            if fit is None:
                return None
            errors.append(float(self._y[i] - fit(self._x[i])))
        return errors
