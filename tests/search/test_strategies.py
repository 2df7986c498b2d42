"""Every strategy passes the contract suite; model-based ones beat random search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from speechnas.search.strategies import (
    STRATEGIES,
    WEIGHT_SHARING,
    StrategyContext,
    make_sampler,
)
from speechnas.space import SpaceEncoding
from speechnas.testing.strategies import (
    DUMMY_SPACE,
    SMALL_SPACE,
    TINY_SPACE,
    analytic_objective,
    check_deterministic,
    check_multi_objective,
    check_proposals_in_space,
    check_resume,
    run_search,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Small start-up and population sizes so that 14 trials reach the model-based phase.
OPTIONS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 4},
    "gp": {"n_startup_trials": 4},
    "nsga2": {"population": 4},
    "evolution": {"population": 4, "sample_size": 2},
    "grid": {"max_size": 10**30},
}
# The weight-sharing strategies run their own loop (tests/search/test_weight_sharing.py).
NAMES = sorted(set(STRATEGIES) - set(WEIGHT_SHARING))


@pytest.mark.parametrize("name", NAMES)
def test_proposals_are_in_the_space(name: str) -> None:
    check_proposals_in_space(name, OPTIONS.get(name))


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "gp" else n for n in NAMES]
)  # gp: over 10 s, run by `make test-slow` (and CI)
def test_deterministic_under_a_seed(name: str) -> None:
    check_deterministic(name, OPTIONS.get(name))


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "gp" else n for n in NAMES]
)  # gp: over 10 s, run by `make test-slow` (and CI)
def test_resume_proposes_what_the_uninterrupted_search_does(name: str, tmp_path: Path) -> None:
    check_resume(name, str(tmp_path), OPTIONS.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_multi_objective(name: str) -> None:
    check_multi_objective(name, OPTIONS.get(name))


def test_grid_covers_a_small_space_once() -> None:
    n = TINY_SPACE.count()
    specs = run_search("grid", TINY_SPACE, lambda s: (analytic_objective(s),), n_trials=n)
    assert len({s.arch_id for s in specs}) == n


def test_grid_refuses_a_huge_space() -> None:
    ctx = StrategyContext(encoding=SpaceEncoding(DUMMY_SPACE))
    with pytest.raises(ValueError, match="use random search"):
        make_sampler("grid", ctx)


def test_unknown_strategy_or_option_is_named() -> None:
    ctx = StrategyContext(encoding=SpaceEncoding(TINY_SPACE), options={"populaton": 3})
    with pytest.raises(ValueError, match="'populaton'"):
        make_sampler("evolution", ctx)
    with pytest.raises(ValueError, match="known: "):
        make_sampler("hill-climbing", ctx)


BUDGET = 30
SEEDS = range(10)
REGRET_OPTIONS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 10},
    "gp": {"n_startup_trials": 10},
    "evolution": {"population": 10, "sample_size": 3},
    "rl": {},
}


def _mean_regret(name: str) -> float:
    best = []
    for seed in SEEDS:
        specs = run_search(
            name,
            SMALL_SPACE,
            lambda s: (analytic_objective(s),),
            n_trials=BUDGET,
            seed=seed,
            options=REGRET_OPTIONS.get(name),
        )
        best.append(min(analytic_objective(s) for s in specs))  # optimum is 0
    return float(np.mean(best))


@pytest.fixture(scope="module")
def random_regret() -> float:
    return _mean_regret("random")


#: GP fits a Gaussian process per proposal: its 200 fits take over a minute on 2 cores, so it
#: runs on demand (``pytest -m slow``) and in ``benchmarks/strategies.py``.
_SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=_SLOW) if n == "gp" else n for n in sorted(REGRET_OPTIONS)]
)
def test_model_based_strategy_beats_random_search(name: str, random_regret: float) -> None:
    regret = _mean_regret(name)
    assert regret < random_regret, (name, regret, random_regret)


def test_evolution_does_not_propose_what_another_worker_is_evaluating() -> None:
    """Aging evolution with trials still running (other workers'): their architectures are
    pending and a child is redrawn rather than repeat one."""
    from speechnas.search.strategies import EvolutionStrategy
    from speechnas.search.strategies._base import History

    encoding = SpaceEncoding(SMALL_SPACE)
    strategy = EvolutionStrategy(
        StrategyContext(encoding=encoding, seed=0, options={"population": 4, "sample_size": 2})
    )
    rng = np.random.default_rng(0)
    parents = [encoding.encode(SMALL_SPACE.sample(rng)) for _ in range(4)]
    past = History(
        indices=tuple(parents),
        values=tuple((float(i),) for i in range(4)),
        fitness=tuple(float(i) for i in range(4)),
        numbers=(0, 1, 2, 3),
    )
    children = [strategy.propose(past, 4, np.random.default_rng(s)).arch_id for s in range(40)]
    common = max(set(children), key=children.count)  # a child the others would repeat
    pending = History(**{**past.__dict__, "pending": frozenset({common})})
    again = [strategy.propose(pending, 4, np.random.default_rng(s)).arch_id for s in range(40)]
    assert common not in again
