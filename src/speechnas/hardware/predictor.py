"""Latency prediction before training: the lookup-table sum, corrected by a learned model.

:class:`LatencyPredictor` is fitted on the whole-model measurements a
:class:`~speechnas.hardware.lut.LatencyTable` holds. Its features are the table's estimate
for the model, the share of parts the table knew exactly, and the spec's size (MACs, params,
layers, widths, frames, family, attention, decoder, streaming). Three LightGBM models are
fitted, by five-fold cross-fitting (each model's features from a table without it), on log
latency: the median (its prediction) and the 10th and 90th percentiles (its
uncertainty band). With fewer than :data:`MIN_MODELS` records it predicts the table sum with
a +-25% band.

Predicting builds the untrained model (tens of milliseconds) to read its parts, MACs and
size; nothing is trained or timed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from speechnas.arch import ArchSpec
from speechnas.hardware.lut import LatencyTable, model_parts
from speechnas.hardware.measure import untrained_model
from speechnas.models import SpeechModel

__all__ = ["MIN_MODELS", "LatencyPredictor", "Prediction"]

#: Whole-model records needed before the learned correction is used.
MIN_MODELS = 30
_FOLDS = 5
_FAMILIES = ("conformer", "transformer", "lstm", "blstm", "cnn_lstm", "cnn")
_ATTENTION = ("abs", "rel", "local", "linear")
_DECODERS = ("ctc", "rnnt", "aed_lstm", "aed_transformer")


@dataclass(frozen=True)
class Prediction:
    """Predicted milliseconds for the table's audio length, with a 10-90% band."""

    latency_ms: float
    low_ms: float
    high_ms: float
    table_ms: float
    table_hits: float


def _features(
    spec: ArchSpec, model: SpeechModel, table: LatencyTable
) -> tuple[list[float], float, float]:
    parts = model_parts(model, spec, table.audio_s)
    table_ms, hits = table.estimate(parts)
    widths = [lay.width for lay in spec.kept_layers]
    row = [
        math.log(max(table_ms, 1e-3)),
        hits,
        math.log(model.macs(table.audio_s) + 1.0),
        math.log(model.num_params()),
        float(len(widths)),
        float(max(widths)),
        float(sum(widths) / len(widths)),
        float(parts[1].frames),
        float(spec.streaming is not None),
        float(spec.reduction_position > 0),
        *(float(spec.encoder == f) for f in _FAMILIES),
        *(float(spec.uses_attention and spec.attention == a) for a in _ATTENTION),
        *(float(spec.decoder.kind == d) for d in _DECODERS),
    ]
    return row, table_ms, hits


class LatencyPredictor:
    """Predicts a spec's latency on the table's target (see the module docstring).

    Args:
        table: a profiled :class:`LatencyTable` (its ``models`` are the training set).
        seed: LightGBM's seed (the fit is deterministic for a seed).
    """

    def __init__(self, table: LatencyTable, *, seed: int = 0) -> None:
        self.table = table
        self.seed = seed
        self._models: dict[str, Any] = {}
        if len(table.models) >= MIN_MODELS:
            self._fit()

    @property
    def learned(self) -> bool:
        return bool(self._models)

    def _fit(self) -> None:
        import lightgbm as lgb

        # Cross-fitting: each model's features come from a table without its fold, so the
        # model learns (and its band measures) the table's error on architectures it has not
        # seen, which is what every prediction faces. With the table's own entries the table
        # sum would look exact on the training set.
        models = self.table.models
        order = np.random.default_rng(self.seed).permutation(len(models))
        rows: list[list[float]] = [[] for _ in models]
        for k in range(_FOLDS):
            held = {int(i) for i in order[k::_FOLDS]}
            table = self.table.without(held)
            for i in held:
                spec = ArchSpec.from_dict(models[i]["spec"])
                rows[i] = _features(spec, untrained_model(spec), table)[0]
        x = np.array(rows)
        y = np.array([math.log(m["latency_ms"]) for m in models])
        common: dict[str, Any] = {
            "n_estimators": 300,
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_child_samples": 5,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.9,
            "random_state": self.seed,
            "deterministic": True,
            "n_jobs": 1,
            "verbose": -1,
        }
        self._models = {
            "median": lgb.LGBMRegressor(objective="regression", **common).fit(x, y),
            "low": lgb.LGBMRegressor(objective="quantile", alpha=0.1, **common).fit(x, y),
            "high": lgb.LGBMRegressor(objective="quantile", alpha=0.9, **common).fit(x, y),
        }

    def predict(self, spec: ArchSpec, model: SpeechModel | None = None) -> Prediction:
        """Predicted latency of ``spec`` (pass its untrained ``model`` if already built)."""
        row, table_ms, hits = _features(spec, model or untrained_model(spec), self.table)
        if not self._models:
            return Prediction(table_ms, 0.75 * table_ms, 1.25 * table_ms, table_ms, hits)
        x = np.array([row])
        mid, low, high = (
            math.exp(float(self._models[k].predict(x)[0])) for k in ("median", "low", "high")
        )
        return Prediction(mid, min(low, mid), max(high, mid), table_ms, hits)
