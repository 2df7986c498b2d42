"""Transfer: start from known-good architectures, scale the best one, then refine it.

Trials go through three stages:

1. **Warm start**: the known-good specs (by default the presets), projected into the space
   (nearest choices) and de-duplicated, one per trial.
2. **Compound scaling** (EfficientNet): the best warm-start architecture so far, scaled in
   depth by ``alpha**phi``, width by ``beta**phi`` and input resolution (mel bands) by
   ``gamma**phi``, for each ``phi`` of ``phis``; negative ``phi`` shrinks the model.
3. **Local search**: a mutation of the best architecture so far (as evolution does).
"""

from __future__ import annotations

import numpy as np

from speechnas.arch import ArchSpec
from speechnas.presets import PRESETS
from speechnas.search.strategies._base import History, Strategy, StrategyContext
from speechnas.search.strategies.evolution import mutate
from speechnas.space import SpaceEncoding

__all__ = ["TransferStrategy", "compound_scale"]


def _nearest_index(choices: tuple[float, ...], target: float) -> int:
    return min(range(len(choices)), key=lambda i: (abs(choices[i] - target), i))


def compound_scale(
    encoding: SpaceEncoding,
    spec: ArchSpec,
    phi: float,
    coefficients: tuple[float, float, float] = (1.2, 1.1, 1.15),
) -> ArchSpec:
    """``spec`` with depth, per-layer width and mel bands scaled by ``coefficients ** phi``.

    Each scaled value snaps to the nearest choice of the space; added layers copy the last.
    EfficientNet's defaults (1.2, 1.1, 1.15) keep ``alpha * beta**2 * gamma**2`` near 2: each
    unit of ``phi`` roughly doubles the compute.
    """
    alpha, beta, gamma = coefficients
    indices = encoding.encode(spec)
    names = {d.name for d in encoding.decisions}
    kept = spec.kept_layers
    if "depth" in names:
        d = encoding.decision("depth")
        indices["depth"] = _nearest_index(d.choices, len(kept) * alpha**phi)
    for i in range(encoding.space.max_layers):
        name = f"L{i}.width"
        if name in names:
            d = encoding.decision(name)
            width = kept[min(i, len(kept) - 1)].width
            indices[name] = _nearest_index(d.choices, width * beta**phi)
    if "n_mels" in names:
        d = encoding.decision("n_mels")
        indices["n_mels"] = _nearest_index(d.choices, spec.n_mels * gamma**phi)
    return encoding.decode(indices)


class TransferStrategy(Strategy):
    """Warm start, compound scaling, local search; see the module doc.

    Options: ``coefficients`` ((1.2, 1.1, 1.15): depth, width, resolution), ``phis``
    ((1, -1, 2)). The warm-start specs come from the context (default: every preset).
    """

    OPTIONS = frozenset({"coefficients", "phis"})

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        if not isinstance(context.encoding, SpaceEncoding):
            raise ValueError("transfer scales recogniser presets; it has no TTS space")
        self.encoding: SpaceEncoding = context.encoding
        given = [float(c) for c in context.option("coefficients", (1.2, 1.1, 1.15))]
        if len(given) != 3 or min(given) <= 0:
            raise ValueError(
                f"transfer: coefficients={given}; need three positive numbers "
                "(depth, width, resolution)"
            )
        self.coefficients = (given[0], given[1], given[2])
        self.phis = tuple(float(p) for p in context.option("phis", (1, -1, 2)))
        sources = context.warm_start or tuple(PRESETS[name] for name in sorted(PRESETS))
        warm: dict[str, ArchSpec] = {}
        for spec in sources:
            projected = self.encoding.project(spec)
            warm.setdefault(projected.arch_id, projected)
        self.warm = tuple(warm.values())

    def _best(self, past: History, among: set[str] | None = None) -> ArchSpec | None:
        best: tuple[float, int] | None = None
        for i, indices in enumerate(past.indices):
            if among is not None and self.encoding.decode(indices).arch_id not in among:
                continue
            if best is None or past.fitness[i] < best[0]:
                best = (past.fitness[i], i)
        return None if best is None else self.encoding.decode(past.indices[best[1]])

    def propose(self, past: History, trial_number: int, rng: np.random.Generator) -> ArchSpec:
        if trial_number < len(self.warm):
            return self.warm[trial_number]
        stage = trial_number - len(self.warm)
        if stage < len(self.phis):
            base = self._best(past, {s.arch_id for s in self.warm}) or self.warm[0]
            return compound_scale(self.encoding, base, self.phis[stage], self.coefficients)
        best = self._best(past) or self.warm[0]
        seen = {self.encoding.decode(ix).arch_id for ix in past.indices}
        child = self.encoding.encode(best)
        for _ in range(10):
            child = mutate(self.encoding, self.encoding.encode(best), rng)
            if self.encoding.decode(child).arch_id not in seen:
                break
        return self.encoding.decode(child)
