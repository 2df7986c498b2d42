"""A learned predictor of the dev error at the budget, from the spec and any cheap signal.

:func:`spec_features` turns an architecture into numbers (family and front-end one-hot,
depth, widths, kernels, heads, feed-forward sizes, log parameters and log MACs).
:class:`LearnedPredictor` appends the scores of ``signals`` (other estimators, e.g. the
training speed of the first 100 steps) and fits a regressor (LightGBM, or a ridge regression
on standardised features) to the error of architectures trained to the budget; its estimate
for a new architecture costs what its signals cost. :func:`cross_validate` scores it honestly:
each architecture is predicted by a predictor fitted without it (k folds of architectures).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from speechnas.arch import ENCODERS, FRONTENDS, SUBSAMPLINGS, ArchSpec
from speechnas.estimators._base import Estimator
from speechnas.hardware.measure import untrained_model

__all__ = ["MODELS", "LearnedPredictor", "cross_validate", "spec_features"]

MODELS = ("lightgbm", "ridge")


def spec_features(spec: ArchSpec, vocab_size: int) -> dict[str, float]:
    """The architecture's numbers a predictor learns from."""
    layers = spec.kept_layers
    widths = [lay.width for lay in layers]
    model = untrained_model(spec, vocab_size)
    row = {
        "depth": float(len(layers)),
        "width_mean": float(np.mean(widths)),
        "width_min": float(min(widths)),
        "width_max": float(max(widths)),
        "width_last": float(widths[-1]),
        "ffn_mean": float(np.mean([lay.ffn_expansion for lay in layers])),
        "kernel_mean": float(np.mean([lay.kernel for lay in layers])),
        "heads_mean": float(np.mean([lay.heads for lay in layers])),
        "n_mels": float(spec.n_mels),
        "subsampling_factor": float(spec.subsampling_factor),
        "relative_attention": float(spec.uses_attention and spec.attention == "rel"),
        "log_params": math.log(model.num_params()),
        "log_macs": math.log(model.macs(1.0) + 1.0),
    }
    row.update({f"encoder_{e}": float(spec.encoder == e) for e in ENCODERS})
    row.update({f"frontend_{f}": float(spec.frontend == f) for f in FRONTENDS})
    row.update({f"subsampling_{s}": float(spec.subsampling == s) for s in SUBSAMPLINGS})
    return row


def _regressor(kind: str, seed: int) -> object:
    if kind == "lightgbm":
        import lightgbm

        return lightgbm.LGBMRegressor(
            n_estimators=300,
            learning_rate=0.03,
            num_leaves=7,
            min_child_samples=3,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=1,
            verbose=-1,
        )
    if kind == "ridge":
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 20)))
    raise ValueError(f"unknown model {kind!r}; expected one of {MODELS}")


class LearnedPredictor(Estimator):
    """Predicts the dev error at the budget (lower: better) from spec features and the
    scores of ``signals``; :meth:`fit` it first."""

    def __init__(
        self,
        vocab_size: int,
        *,
        signals: Sequence[Estimator] = (),
        model: str = "lightgbm",
        seed: int = 0,
    ) -> None:
        _regressor(model, seed)  # an unknown kind fails here
        self.vocab_size = vocab_size
        self.signals = tuple(signals)
        self.model = model
        self.seed = seed
        self.name = "+".join([f"predictor[{model}]", *(s.name for s in self.signals)])
        self._fitted: object | None = None
        self._rows: dict[str, tuple[list[float], float]] = {}

    def _row(self, spec: ArchSpec) -> tuple[list[float], float]:
        """The feature row and the CPU-seconds its signals were paid elsewhere (cached)."""
        if spec.arch_id not in self._rows:
            row = list(spec_features(spec, self.vocab_size).values())
            paid = 0.0
            for signal in self.signals:
                est = signal.estimate(spec)
                row.append(est.score)
                paid += est.cpu_seconds
            self._rows[spec.arch_id] = (row, paid)
        return self._rows[spec.arch_id]

    def fit(self, specs: Sequence[ArchSpec], errors: Sequence[float]) -> LearnedPredictor:
        """Fit to ``errors`` (the dev error at the budget) of ``specs``."""
        if len(specs) != len(errors) or len(specs) < 3:
            raise ValueError("fit needs at least 3 architectures, each with its error")
        x = np.array([self._row(s)[0] for s in specs])
        regressor = _regressor(self.model, self.seed)
        regressor.fit(x, np.asarray(errors, dtype=float))  # type: ignore[attr-defined]
        self._fitted = regressor
        return self

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        if self._fitted is None:
            raise RuntimeError("LearnedPredictor: fit it before estimating")
        cached = spec.arch_id in self._rows
        row, paid = self._row(spec)
        value = float(self._fitted.predict(np.array([row]))[0])  # type: ignore[attr-defined]
        return value, (0.0 if cached else paid)


def cross_validate(
    predictor: LearnedPredictor,
    specs: Sequence[ArchSpec],
    errors: Sequence[float],
    *,
    folds: int | None = None,
) -> np.ndarray:
    """Each architecture's prediction by ``predictor`` fitted on the other folds
    (``folds`` folds of consecutive architectures; None: leave one out)."""
    n = len(specs)
    k = n if folds is None else min(folds, n)
    parts = np.array_split(np.arange(n), k)
    out = np.empty(n)
    for held in parts:
        keep = [i for i in range(n) if i not in set(held.tolist())]
        predictor.fit([specs[i] for i in keep], [errors[i] for i in keep])
        for i in held:
            out[i] = predictor.estimate(specs[i]).score
    return out
