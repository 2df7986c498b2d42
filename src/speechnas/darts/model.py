"""The DARTS model: a base architecture whose layers are mixed over candidate layers.

Legend: P layer positions, K_i candidates at position ``i``.

Everything outside the layers (front-end, stem, head) is the base spec's, built by
:func:`~speechnas.models.build_model`; each layer position mixes its candidate
:class:`~speechnas.arch.LayerSpec` s (one width; ``skip=True`` is the identity) with weights
``softmax(alpha_i)``. The architecture parameters ``alpha`` are kept apart from the weights
(:meth:`DartsModel.weight_parameters`, :meth:`DartsModel.arch_parameters`) for the
alternating optimisation. With a latency table, each candidate is priced in the context of
the base spec (:func:`~speechnas.extract.layers.layer_problem`) and
:meth:`DartsModel.expected_latency_ms` is ``base + sum_i softmax(alpha_i) . latency_i``,
differentiable in ``alpha``; :meth:`DartsModel.extract` turns ``alpha`` into an architecture
(the most likely candidate per position, or the best sum of log-probabilities within a
latency budget, exactly, by dynamic programming).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from speechnas.arch import ArchSpec, LayerSpec
from speechnas.darts.mixed import MixedLayer
from speechnas.extract import ExtractionProblem, extract
from speechnas.extract.layers import layer_problem
from speechnas.hardware.lut import LatencyTable
from speechnas.models import EncoderLayer, SpeechModel, build_model
from speechnas.models.builder import LAYER_FACTORIES, LayerContext

__all__ = ["DartsModel"]


class DartsModel(nn.Module):
    """See the module docstring.

    Args:
        base: the architecture around the layers; its layers give the positions (all kept).
        candidates: per position, the candidate layers (the same width as the base's).
        vocab_size: output tokens.
        table: prices the candidates (``None``: no latency term, argmax extraction).

    Raises:
        ValueError: positions that do not match the base's layers, a skipped base layer, an
            empty position, or a candidate of another width.
    """

    def __init__(
        self,
        base: ArchSpec,
        candidates: Sequence[Sequence[LayerSpec]],
        vocab_size: int,
        *,
        table: LatencyTable | None = None,
    ) -> None:
        super().__init__()
        if len(candidates) != len(base.layers):
            raise ValueError(
                f"{len(candidates)} candidate positions; the base has {len(base.layers)} layers"
            )
        if any(layer.skip for layer in base.layers):
            raise ValueError("the base's layers are the positions: none may be skipped")
        width = base.layers[0].width
        for i, position in enumerate(candidates):
            if not position:
                raise ValueError(f"position {i} has no candidates")
            for layer in position:
                if not layer.skip and layer.width != width:
                    raise ValueError(
                        f"position {i}: a candidate of width {layer.width}; all must be {width}"
                    )
        self.base = base
        self.candidates = tuple(tuple(position) for position in candidates)

        def mixed(i: int, _: LayerSpec, ctx: LayerContext) -> EncoderLayer:
            factory = LAYER_FACTORIES[base.encoder]
            ops = [None if c.skip else factory(c, ctx) for c in self.candidates[i]]
            return MixedLayer(ops, width)

        self.model: SpeechModel = build_model(
            base, vocab_size=vocab_size, specaugment=False, layer_builder=mixed
        )
        self.mixed: list[MixedLayer] = [m for m in self.model.encoder.layers]  # type: ignore[misc]
        self.alpha = nn.ParameterList([nn.Parameter(torch.zeros(len(p))) for p in candidates])
        self.base_ms = 0.0
        self.latency_ms: list[list[float]] | None = None
        if table is not None:
            zeros = [[0.0] * len(p) for p in self.candidates]
            problem = layer_problem(base, self.candidates, zeros, table)
            self.base_ms = problem.base_ms
            self.latency_ms = [[c.latency_ms for c in position] for position in problem.layers]

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.model.parameters())

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alpha)

    def probs(self) -> list[Tensor]:
        """``softmax(alpha_i)`` per position."""
        return [torch.softmax(a, dim=0) for a in self.alpha]

    def forward(
        self, wave: Tensor, wave_lens: Tensor, targets: Tensor, target_lens: Tensor
    ) -> Tensor:
        """The training loss of the mixed model on a batch."""
        for layer, p in zip(self.mixed, self.probs(), strict=True):
            layer.weights = p
        loss: Tensor = self.model(wave, wave_lens, targets, target_lens)
        return loss

    def expected_latency_ms(self) -> Tensor:
        """``base + sum_i softmax(alpha_i) . latency_i`` (needs a table)."""
        if self.latency_ms is None:
            raise RuntimeError("no latency table was given")
        total = torch.tensor(self.base_ms)
        for p, ms in zip(self.probs(), self.latency_ms, strict=True):
            total = total + (p * torch.tensor(ms)).sum()
        return total

    def extract(self, budget_ms: float | None = None) -> ArchSpec:
        """The architecture ``alpha`` points to: per position the most likely candidate, or,
        with ``budget_ms``, the choice with the highest summed log-probability whose
        table-estimated latency fits the budget (exact; see :mod:`speechnas.extract`).

        Raises:
            ValueError: no choice fits the budget, or a budget without a table.
        """
        with torch.no_grad():
            scores = [torch.log_softmax(a, dim=0).tolist() for a in self.alpha]
        if budget_ms is None:
            chosen = self._most_likely(scores)
        else:
            if self.latency_ms is None:
                raise ValueError("extraction within a budget needs a latency table")
            chosen = self._within(scores, budget_ms)
        return dataclasses.replace(self.base, layers=tuple(chosen))

    def _most_likely(self, scores: list[list[float]]) -> list[LayerSpec]:
        """The most likely candidate per position; if that skips every layer, the position
        that loses least by keeping its most likely layer keeps it."""
        best = [max(range(len(s)), key=s.__getitem__) for s in scores]
        chosen = [position[k] for position, k in zip(self.candidates, best, strict=True)]
        if not all(layer.skip for layer in chosen):
            return chosen
        options = [
            (scores[i][best[i]] - scores[i][k], i, k)
            for i, position in enumerate(self.candidates)
            for k, c in enumerate(position)
            if not c.skip
        ]
        if not options:
            raise ValueError("every candidate is an identity: no architecture keeps a layer")
        _, i, k = min(options)
        chosen[i] = self.candidates[i][k]
        return chosen

    def _within(self, scores: list[list[float]], budget_ms: float) -> list[LayerSpec]:
        """The best choice within ``budget_ms`` that keeps at least one layer.

        The knapsack may skip every position; then the best valid choice keeps some position
        ``i``, and is the best of the problems that drop ``i``'s identity candidate, one per
        position (so the result is still exact).
        """
        assert self.latency_ms is not None

        def solve(drop_skip_at: int | None) -> tuple[float, list[LayerSpec]]:
            labels, values, costs = [], [], []
            for i, position in enumerate(self.candidates):
                keep = [k for k, c in enumerate(position) if not (c.skip and i == drop_skip_at)]
                labels.append([position[k] for k in keep])
                values.append([scores[i][k] for k in keep])
                costs.append([self.latency_ms[i][k] for k in keep])  # type: ignore[index]
            problem = ExtractionProblem.from_lists(
                labels=labels, scores=values, latency_ms=costs, base_ms=self.base_ms
            )
            found = extract(problem, budget_ms)
            return found.score, list(found.labels)

        score, chosen = solve(None)
        if not all(layer.skip for layer in chosen):
            return chosen
        best: tuple[float, list[LayerSpec]] | None = None
        errors = []
        for i, position in enumerate(self.candidates):
            if all(c.skip for c in position):
                continue
            try:
                option = solve(i)
            except ValueError as e:
                errors.append(str(e))
                continue
            if best is None or option[0] > best[0]:
                best = option
        if best is None:
            raise ValueError(
                f"no choice that keeps a layer fits {budget_ms:g} ms ({'; '.join(errors[:1])})"
            )
        return best[1]
