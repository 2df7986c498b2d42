"""Search strategies: one interface (an Optuna sampler over a space's encoding), ten kinds.

=============  ===============================================================================
``random``     uniform over the space's distinct architectures (its dynamic programme)
``grid``       every architecture of a small space once, in a seeded spread-out order
``tpe``        Optuna's multivariate tree-structured Parzen estimator (Bayesian)
``gp``         Optuna's Gaussian-process Bayesian optimisation
``nsga2``      Optuna's NSGA-II (multi-objective evolution)
``evolution``  regularised (aging) evolution with tournament, mutation and crossover
``rl``         a REINFORCE controller with a moving-average baseline
``transfer``   warm start from known-good specs, compound scaling, then local search
``supernet``   weight sharing: a supernet trained once, subnets ranked on inherited weights
``darts``      differentiable search with a latency penalty; its architectures are trained
=============  ===============================================================================

``supernet`` and ``darts`` are run by their own drivers (:mod:`speechnas.search.drivers`,
with :mod:`speechnas.search.supernet_strategy` and :mod:`speechnas.search.darts_strategy`);
their entries here check their options, and their sampler only stands in for the study.

Example:
    >>> from speechnas.space import SpaceEncoding, SpeechSpace
    >>> ctx = StrategyContext(encoding=SpaceEncoding(SpeechSpace(max_layers=4)), seed=0)
    >>> sampler = make_sampler("evolution", ctx)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from speechnas.search.strategies._base import (
    History,
    Reseeded,
    Strategy,
    StrategyContext,
    history,
    suggest_spec,
)
from speechnas.search.strategies.evolution import EvolutionStrategy
from speechnas.search.strategies.random import GridStrategy, RandomStrategy
from speechnas.search.strategies.rl import ReinforceStrategy
from speechnas.search.strategies.transfer import TransferStrategy, compound_scale

__all__ = [
    "STRATEGIES",
    "WEIGHT_SHARING",
    "EvolutionStrategy",
    "GridStrategy",
    "History",
    "RandomStrategy",
    "ReinforceStrategy",
    "Strategy",
    "StrategyContext",
    "TransferStrategy",
    "compound_scale",
    "history",
    "make_sampler",
    "suggest_spec",
]


@dataclass(frozen=True)
class _Entry:
    factory: Callable[[StrategyContext], optuna.samplers.BaseSampler]
    options: frozenset[str]


def _tpe(ctx: StrategyContext) -> optuna.samplers.BaseSampler:
    startup = int(ctx.option("n_startup_trials", 10))

    def build(seed: int) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=startup,
                multivariate=True,
                constant_liar=True,  # parallel workers do not all propose the same point
            )

    return Reseeded(build, ctx.seed)


def _gp(ctx: StrategyContext) -> optuna.samplers.BaseSampler:
    startup = int(ctx.option("n_startup_trials", 10))
    return Reseeded(
        lambda seed: optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=startup, warn_independent_sampling=False
        ),
        ctx.seed,
    )


def _nsga2(ctx: StrategyContext) -> optuna.samplers.BaseSampler:
    population = int(ctx.option("population", 20))
    return Reseeded(
        lambda seed: optuna.samplers.NSGAIISampler(population_size=population, seed=seed),
        ctx.seed,
    )


STRATEGIES: dict[str, _Entry] = {
    "random": _Entry(RandomStrategy, frozenset()),
    "grid": _Entry(GridStrategy, frozenset({"max_size"})),
    "tpe": _Entry(_tpe, frozenset({"n_startup_trials"})),
    "gp": _Entry(_gp, frozenset({"n_startup_trials"})),
    "nsga2": _Entry(_nsga2, frozenset({"population"})),
    "evolution": _Entry(EvolutionStrategy, EvolutionStrategy.OPTIONS),
    "rl": _Entry(ReinforceStrategy, ReinforceStrategy.OPTIONS),
    "transfer": _Entry(TransferStrategy, TransferStrategy.OPTIONS),
    "supernet": _Entry(
        RandomStrategy,
        frozenset(
            {
                "train_minutes",
                "train_steps",
                "random_subnets",
                "distill",
                "split_depth",
                "search",
                "population",
                "sample_size",
                "rate",
                "calibration_batches",
            }
        ),
    ),
    "darts": _Entry(
        RandomStrategy,
        frozenset(
            {
                "targets_ms",
                "penalty",
                "train_minutes",
                "train_steps",
                "alpha_lr",
                "alpha_warmup_steps",
                "width",
            }
        ),
    ),
}

#: Strategies the search loop runs itself, with their own estimator or proposals.
WEIGHT_SHARING = ("supernet", "darts")


def make_sampler(name: str, context: StrategyContext) -> optuna.samplers.BaseSampler:
    """The sampler of strategy ``name``.

    Raises:
        ValueError: an unknown strategy or option (named, with what is known).
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r} is unknown; known: {sorted(STRATEGIES)}")
    entry = STRATEGIES[name]
    unknown = sorted(set(context.options) - entry.options)
    if unknown:
        raise ValueError(
            f"strategy {name!r}: unknown option(s) {unknown}; known: {sorted(entry.options)}"
        )
    return entry.factory(context)
