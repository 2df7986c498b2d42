"""Random and evolutionary search over subnets under a latency budget (synthetic scores and
prices, so the search itself is what is tested)."""

from __future__ import annotations

import numpy as np
import pytest

from speechnas.arch import ArchSpec
from speechnas.supernet.search import search_subnets
from speechnas.testing.supernet import tiny_supernet_space

SPACE = tiny_supernet_space(max_layers=3, widths=(16, 32, 48), kernels=(3, 5, 7))


def _price(spec: ArchSpec) -> float:
    return float(sum(layer.width for layer in spec.kept_layers))


def _score(spec: ArchSpec) -> float:
    """Lower is better: wide, long-kernel, many-head layers score best."""
    return -float(sum(layer.width * layer.kernel * layer.heads for layer in spec.kept_layers))


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_every_scored_subnet_is_distinct_and_within_budget(strategy: str) -> None:
    result = search_subnets(
        SPACE,
        _score,
        evaluations=40,
        strategy=strategy,
        latency_ms=_price,
        max_latency_ms=80.0,
        population=8,
        seed=0,
    )
    assert len(result.scored) == 40
    assert len({s.spec.arch_id for s in result.scored}) == 40
    assert all(s.latency_ms is not None and s.latency_ms <= 80.0 for s in result.scored)
    assert result.over_budget > 0  # the budget binds: some draws were refused unscored
    assert all(SPACE.contains(s.spec) for s in result.scored)
    again = search_subnets(
        SPACE,
        _score,
        evaluations=40,
        strategy=strategy,
        latency_ms=_price,
        max_latency_ms=80.0,
        population=8,
        seed=0,
    )
    assert [s.spec for s in again.scored] == [s.spec for s in result.scored]


def test_evolution_finds_better_subnets_than_random_draws() -> None:
    def best(strategy: str, seed: int) -> float:
        found = search_subnets(
            SPACE,
            _score,
            evaluations=60,
            strategy=strategy,
            latency_ms=_price,
            max_latency_ms=96.0,
            population=10,
            sample_size=4,
            seed=seed,
        )
        return found.best()[0].score

    evolved = np.mean([best("evolution", s) for s in range(5)])
    drawn = np.mean([best("random", s) for s in range(5)])
    assert evolved < drawn


def test_mutations_stay_in_the_space_and_move() -> None:
    rng = np.random.default_rng(0)
    spec = SPACE.sample(rng)
    children = [SPACE.mutate(spec, rng, rate=0.5) for _ in range(20)]
    assert all(SPACE.contains(c) for c in children)
    assert any(c != spec for c in children)


def test_a_budget_nothing_meets_is_an_error() -> None:
    with pytest.raises(ValueError, match="too tight"):
        search_subnets(
            SPACE, _score, evaluations=3, latency_ms=_price, max_latency_ms=1.0, max_draws=50
        )
    with pytest.raises(ValueError, match="needs latency_ms"):
        search_subnets(SPACE, _score, evaluations=3, max_latency_ms=10.0)
    with pytest.raises(ValueError, match="strategy"):
        search_subnets(SPACE, _score, evaluations=3, strategy="annealing")


def test_a_space_with_few_subnets_returns_what_it_scored() -> None:
    one = tiny_supernet_space(
        min_layers=1, max_layers=1, widths=(16,), kernels=(3,), heads=(2,), ffn_expansions=(1.0,)
    )
    result = search_subnets(one, _score, evaluations=5, strategy="random", max_draws=20)
    assert len(result.scored) == 1 and result.repeats == 19
    assert result.exhausted is not None and "19 repeats" in result.exhausted
