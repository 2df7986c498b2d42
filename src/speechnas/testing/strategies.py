"""Contract suite and dummies for search strategies (no torch: milliseconds per trial).

``DUMMY_SPACE`` is a reduced speech space and :func:`analytic_objective` a known function of
an architecture standing in for "train it and measure WER and cost", with a known optimum of
0, so regret (best found minus optimum) is exact. Every strategy of
:data:`speechnas.search.strategies.STRATEGIES` must pass the ``check_*`` functions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.study import StudyDirection

from speechnas.arch import ArchSpec
from speechnas.arch.kinds import as_recogniser
from speechnas.search.strategies import StrategyContext, make_sampler, suggest_spec
from speechnas.space import SpaceEncoding, SpeechSpace

__all__ = [
    "DUMMY_SPACE",
    "SMALL_SPACE",
    "TINY_SPACE",
    "analytic_cost",
    "analytic_objective",
    "check_deterministic",
    "check_multi_objective",
    "check_proposals_in_space",
    "check_resume",
    "run_search",
]

DUMMY_SPACE = SpeechSpace(
    frontends=("logmel", "mfcc"),
    n_mels=(40, 80),
    subsamplings=("conv2d",),
    subsampling_factors=(4, 8),
    time_reduction=False,
    encoders=("conformer", "lstm", "cnn"),
    attentions=("rel",),
    attention_windows=(16,),
    min_layers=2,
    max_layers=6,
    widths=(64, 96, 128, 192, 256),
    kernels=(3, 5, 7, 11, 15),
    heads=(1, 2, 4, 8),
    ffn_expansions=(2.0, 4.0),
    activations=("swish", "relu"),
    norms=("layernorm",),
    decoders=("ctc", "rnnt"),
    predictors=("stateless",),
    decoder_dims=(128,),
)

#: The dummy space cut to at most three layers (25 decisions): small enough for the Gaussian
#: process to run 10 seeded searches of 30 trials in about a minute.
SMALL_SPACE = dataclasses.replace(DUMMY_SPACE, min_layers=1, max_layers=3)

TINY_SPACE = SpeechSpace(
    frontends=("logmel",),
    n_mels=(40, 80),
    subsamplings=("conv2d",),
    subsampling_factors=(4,),
    time_reduction=False,
    encoders=("conformer", "lstm"),
    attentions=("rel",),
    attention_windows=(16,),
    min_layers=1,
    max_layers=2,
    widths=(64, 128),
    kernels=(3, 15),
    heads=(4,),
    ffn_expansions=(2.0,),
    activations=("swish",),
    norms=("layernorm",),
    decoders=("ctc", "rnnt"),
    predictors=("stateless",),
    decoder_dims=(128,),
)

_ENCODER_COST = {"conformer": 0.0, "transformer": 0.3, "cnn": 0.4, "cnn_lstm": 0.5}


def analytic_objective(spec: ArchSpec) -> float:
    """A stand-in for dev WER: 0 at the best architecture, positive elsewhere.

    Best: a 5-layer Conformer with log-mel input at 80 bands, factor 4, CTC, every layer of
    width 192, kernel 11, 4 heads, FFN x4 and swish. Terms add, so the optimum is exactly 0.
    """
    kept = spec.kept_layers
    value = _ENCODER_COST.get(spec.encoder, 0.6)
    value += 0.25 * (len(kept) - 5) ** 2
    value += 0.2 * (spec.frontend != "logmel") + 0.2 * (spec.n_mels != 80)
    value += 0.3 * (spec.subsampling_factor != 4) + 0.1 * (spec.decoder.kind != "ctc")
    per_layer = 0.0
    for lay in kept:
        per_layer += math.log2(lay.width / 192) ** 2
        if spec.encoder in ("conformer", "transformer", "cnn", "cnn_lstm"):
            per_layer += ((lay.kernel - 11) / 4) ** 2 + 0.2 * (lay.activation != "swish")
        if spec.encoder in ("conformer", "transformer"):
            per_layer += 0.3 * (lay.heads != 4) + 0.2 * (lay.ffn_expansion != 4.0)
    return value + per_layer / len(kept)


def analytic_cost(spec: ArchSpec) -> float:
    """A stand-in for latency or size: grows with depth and width (in millions)."""
    return sum(lay.width**2 * 12 for lay in spec.kept_layers) / 1e6


def run_search(
    strategy: str,
    space: SpeechSpace,
    objective: Callable[[ArchSpec], Sequence[float]],
    *,
    n_trials: int,
    seed: int = 0,
    directions: Sequence[str] = ("minimize",),
    storage: str | None = None,
    study_name: str = "contract",
    options: Mapping[str, Any] | None = None,
) -> list[ArchSpec]:
    """Ask-and-tell until the study holds ``n_trials`` trials; the specs of the new ones."""
    encoding = SpaceEncoding(space)
    context = StrategyContext(
        encoding=encoding, seed=seed, directions=tuple(directions), options=options or {}
    )
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=make_sampler(strategy, context),
        directions=[
            StudyDirection.MINIMIZE if d == "minimize" else StudyDirection.MAXIMIZE
            for d in directions
        ],
        load_if_exists=True,
    )
    specs = []
    while len(study.trials) < n_trials:
        trial = study.ask()
        spec = as_recogniser(suggest_spec(trial, encoding))
        specs.append(spec)
        study.tell(trial, list(objective(spec)))
    return specs


def _single(spec: ArchSpec) -> tuple[float]:
    return (analytic_objective(spec),)


def _double(spec: ArchSpec) -> tuple[float, float]:
    return analytic_objective(spec), analytic_cost(spec)


def check_proposals_in_space(strategy: str, options: Mapping[str, Any] | None = None) -> None:
    specs = run_search(strategy, TINY_SPACE, _single, n_trials=16, options=options)
    assert len(specs) == 16
    for spec in specs:
        assert TINY_SPACE.contains(spec), TINY_SPACE.violations(spec)


def check_deterministic(strategy: str, options: Mapping[str, Any] | None = None) -> None:
    def ids(seed: int) -> list[str]:
        specs = run_search(strategy, SMALL_SPACE, _single, n_trials=14, seed=seed, options=options)
        return [s.arch_id for s in specs]

    first = ids(3)
    assert first == ids(3), "same seed, different proposals"
    assert first != ids(4), "different seeds, same proposals"


def check_resume(strategy: str, folder: str, options: Mapping[str, Any] | None = None) -> None:
    """A search stopped after 7 trials and resumed from its database (a new process's worth
    of new objects) proposes exactly what the uninterrupted search does."""
    whole = run_search(
        strategy,
        SMALL_SPACE,
        _double,
        n_trials=14,
        directions=("minimize", "minimize"),
        storage=f"sqlite:///{folder}/whole.db",
        options=options,
    )
    storage = f"sqlite:///{folder}/resumed.db"
    kwargs: dict[str, Any] = dict(
        directions=("minimize", "minimize"), storage=storage, options=options
    )
    part = run_search(strategy, SMALL_SPACE, _double, n_trials=7, **kwargs)
    rest = run_search(strategy, SMALL_SPACE, _double, n_trials=14, **kwargs)
    assert [s.arch_id for s in part + rest] == [s.arch_id for s in whole]


def check_multi_objective(strategy: str, options: Mapping[str, Any] | None = None) -> None:
    specs = run_search(
        strategy,
        SMALL_SPACE,
        _double,
        n_trials=14,
        directions=("minimize", "maximize"),
        options=options,
    )
    assert all(SMALL_SPACE.contains(s) for s in specs)
    assert len({s.arch_id for s in specs}) > 1
