"""Searching a trained supernet's subnets: random or evolutionary, under a latency budget.

Subnets are scored by a callable (lower is better), normally their dev WER on inherited
weights (:func:`~speechnas.supernet.train.inherited_scores`), and priced by another (a latency
predictor's median for the target, :class:`~speechnas.hardware.LatencyPredictor`). A subnet
priced over the budget is never scored; it is counted and another is drawn.

* ``random``: uniform draws from the space.
* ``evolution``: regularised evolution (Real et al., 2019): a population of the last
  ``population`` scored subnets; each new subnet mutates (:meth:`SupernetSpace.mutate`) the
  best of ``sample_size`` population members drawn at random, and the oldest member leaves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from speechnas.arch import ArchSpec
from speechnas.supernet.space import SupernetSpace

__all__ = ["SUBNET_STRATEGIES", "SubnetSearch", "search_subnets"]

SUBNET_STRATEGIES = ("random", "evolution")


@dataclass(frozen=True)
class Scored:
    """A scored subnet: its spec, score (lower is better) and price (latency, ms)."""

    spec: ArchSpec
    score: float
    latency_ms: float | None


@dataclass
class SubnetSearch:
    """The outcome of :func:`search_subnets`: every scored subnet in order, how many drawn
    subnets were over the budget or refused by ``allowed`` (never scored) or repeats (scored
    once), and, when the draws ran out before ``evaluations`` subnets were scored, why
    (``exhausted``)."""

    scored: list[Scored] = field(default_factory=list)
    over_budget: int = 0
    refused: int = 0
    repeats: int = 0
    exhausted: str | None = None

    def best(self, k: int = 1) -> list[Scored]:
        """The ``k`` lowest scores (ties: the earlier)."""
        order = sorted(range(len(self.scored)), key=lambda i: (self.scored[i].score, i))
        return [self.scored[i] for i in order[:k]]


def search_subnets(
    space: SupernetSpace,
    score: Callable[[ArchSpec], float],
    *,
    evaluations: int,
    strategy: str = "evolution",
    latency_ms: Callable[[ArchSpec], float] | None = None,
    max_latency_ms: float | None = None,
    population: int = 16,
    sample_size: int = 4,
    rate: float = 0.2,
    seed: int = 0,
    max_draws: int | None = None,
    allowed: Callable[[ArchSpec], bool] | None = None,
) -> SubnetSearch:
    """Score ``evaluations`` distinct subnets of ``space`` (module docstring).

    Args:
        max_draws: stop after this many draws (default ``100 * evaluations``), for a
            budget that few subnets meet or a space with few subnets; what was scored is
            returned, with ``exhausted`` saying why it is short.
        allowed: a last check before scoring (other constraints, measured on the spec); a
            refused subnet is counted in ``refused`` and never scored. Called once per
            distinct subnet within the budget.

    Raises:
        ValueError: an unknown strategy, a budget without a price, or nothing scored after
            ``max_draws`` draws.
    """
    if strategy not in SUBNET_STRATEGIES:
        raise ValueError(f"strategy={strategy!r}; expected one of {SUBNET_STRATEGIES}")
    if max_latency_ms is not None and latency_ms is None:
        raise ValueError("max_latency_ms needs latency_ms to price subnets")
    rng = np.random.default_rng(seed)
    out = SubnetSearch()
    seen: set[str] = set()
    alive: deque[Scored] = deque(maxlen=population)
    draws, limit = 0, max_draws or 100 * evaluations
    while len(out.scored) < evaluations:
        if draws >= limit:
            over = f"{out.over_budget} over {max_latency_ms:g} ms, " if max_latency_ms else ""
            why = (
                f"{draws} subnets drawn: {over}{out.refused} refused by constraints, "
                f"{out.repeats} repeats, {len(out.scored)} scored"
            )
            if not out.scored:
                raise ValueError(f"{why}; the limits are too tight for this space")
            out.exhausted = why  # fewer distinct subnets within budget than evaluations
            break
        draws += 1
        if strategy == "random" or len(alive) < population:
            spec = space.sample(rng)
        else:
            picks = rng.choice(len(alive), size=min(sample_size, len(alive)), replace=False)
            parent = min((alive[int(i)] for i in picks), key=lambda s: s.score)
            spec = space.mutate(parent.spec, rng, rate)
        if spec.arch_id in seen:
            out.repeats += 1
            continue
        price = latency_ms(spec) if latency_ms is not None else None
        if max_latency_ms is not None and price is not None and price > max_latency_ms:
            out.over_budget += 1
            continue
        seen.add(spec.arch_id)
        if allowed is not None and not allowed(spec):
            out.refused += 1
            continue
        entry = Scored(spec, float(score(spec)), price)
        out.scored.append(entry)
        alive.append(entry)
    return out
