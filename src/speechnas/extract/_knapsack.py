"""Latency-constrained extraction as a multiple-choice knapsack, solved by dynamic programming.

Every layer position offers candidate operators, each with a score and a latency; exactly one
is chosen per position. The objective is the *sum* of the chosen scores (log-α of a DARTS
cell, or a supernet's negative loss contributions), the constraint is ``base_ms`` plus the sum
of the chosen latencies at most the budget. An identity (skip) operator is just a candidate
with its own latency, often 0: that is how elastic depth is expressed.

The DP runs on a grid of step ``r`` (the resolution): each latency is rounded *up* to a whole
number of cells, ``w = ceil(latency / r)``, and the layers' share of the budget down,
``C = floor((budget - base) / r)``. The arithmetic is exact (floats are converted to
fractions), so:

- every returned choice is truly within the budget: ``base + sum(latency) <= base +
  r * sum(w) <= budget``, never over;
- it is optimal among the choices whose rounded-up latencies fit (``sum(w) <= C``), which
  contains every choice whose true latency is at most ``budget - num_layers * r``;
- when every latency is a whole multiple of ``r``, rounding changes nothing and the choice is
  optimal among *all* choices within the budget (:attr:`Extraction.exact`). With
  ``resolution_ms=None`` the grid is the exact GCD of the latencies whenever that needs at
  most ``max_cells`` cells (integer latencies, or multiples of 0.25 ms, for example).

Cost: ``O(num_layers * num_candidates * C)`` time, vectorised over the grid, and one
backpointer array of ``C + 1`` cells per layer.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

import numpy as np

__all__ = ["Candidate", "Extraction", "ExtractionProblem", "extract", "extract_front"]

LabelT = TypeVar("LabelT", bound=Hashable)

#: Default cap on the grid: cells of the layers' share of the (largest) budget.
MAX_CELLS = 100_000


def _check_number(where: str, value: object, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}={value!r} is invalid; expected a finite number")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}={value!r} is invalid; expected a number >= {minimum}")
    return float(value)


@dataclass(frozen=True)
class Candidate(Generic[LabelT]):
    """One operator a layer position may take.

    Attributes:
        label: What is chosen (an operator name, a :class:`~speechnas.arch.LayerSpec`, ...).
        score: Its contribution to the objective (higher is better; scores add up over layers).
        latency_ms: Its latency in milliseconds, finite and ``>= 0``.
    """

    label: LabelT
    score: float
    latency_ms: float

    def __post_init__(self) -> None:
        _check_number(f"Candidate({self.label!r}).score", self.score)
        _check_number(f"Candidate({self.label!r}).latency_ms", self.latency_ms, minimum=0.0)


@dataclass(frozen=True)
class ExtractionProblem(Generic[LabelT]):
    """Choose one candidate per layer position, maximising the summed score within a budget.

    Attributes:
        layers: Per position, its candidates (at least one). Lists are frozen into tuples.
        base_ms: Latency of everything outside the layers (front-end, stem, head), ``>= 0``.

    Example:
        >>> problem = ExtractionProblem.from_lists(
        ...     labels=[["conv", "attn", "skip"]] * 2,
        ...     scores=[[1.0, 2.0, 0.0], [1.0, 3.0, 0.0]],
        ...     latency_ms=[[2.0, 5.0, 0.0]] * 2,
        ...     base_ms=1.0,
        ... )
        >>> extract(problem, budget_ms=8.0).labels
        ('conv', 'attn')
    """

    layers: tuple[tuple[Candidate[LabelT], ...], ...]
    base_ms: float = 0.0

    def __post_init__(self) -> None:
        layers = tuple(tuple(position) for position in self.layers)
        object.__setattr__(self, "layers", layers)
        if not layers:
            raise ValueError("ExtractionProblem.layers is empty; expected at least one position")
        for i, position in enumerate(layers):
            if not position:
                raise ValueError(f"ExtractionProblem.layers[{i}] has no candidates")
            for k, candidate in enumerate(position):
                if not isinstance(candidate, Candidate):
                    raise ValueError(
                        f"ExtractionProblem.layers[{i}][{k}]={candidate!r} is not a Candidate"
                    )
        _check_number("ExtractionProblem.base_ms", self.base_ms, minimum=0.0)

    @classmethod
    def from_lists(
        cls,
        *,
        labels: Sequence[Sequence[LabelT]],
        scores: Sequence[Sequence[float]],
        latency_ms: Sequence[Sequence[float]],
        base_ms: float = 0.0,
    ) -> ExtractionProblem[LabelT]:
        """A problem from per-position lists of labels, scores and latencies of equal shape."""
        if not len(labels) == len(scores) == len(latency_ms):
            raise ValueError(
                f"labels, scores and latency_ms have {len(labels)}, {len(scores)} and "
                f"{len(latency_ms)} positions; expected the same number"
            )
        layers = []
        for i, (names, values, costs) in enumerate(zip(labels, scores, latency_ms, strict=True)):
            if not len(names) == len(values) == len(costs):
                raise ValueError(
                    f"position {i}: {len(names)} labels, {len(values)} scores and {len(costs)} "
                    "latencies; expected the same number"
                )
            layers.append(
                tuple(Candidate(n, v, c) for n, v, c in zip(names, values, costs, strict=True))
            )
        return cls(tuple(layers), base_ms)

    @property
    def min_latency_ms(self) -> float:
        """The smallest total latency any choice has (``base_ms`` included)."""
        fastest = (min(c.latency_ms for c in position) for position in self.layers)
        return math.fsum([self.base_ms, *fastest])


@dataclass(frozen=True)
class Extraction(Generic[LabelT]):
    """The chosen architecture for one budget.

    Attributes:
        labels: The chosen candidate's label per position.
        indices: The chosen candidate's index per position.
        score: Sum of the chosen scores.
        latency_ms: ``base_ms`` plus the chosen latencies, exactly (not rounded to the grid);
            never above ``budget_ms``.
        budget_ms: The budget it was extracted for.
        resolution_ms: The grid step the DP used.
        exact: Every latency was a whole multiple of the grid step, so the choice is optimal
            among all choices within the budget (otherwise among those whose rounded-up
            latencies fit; see the module docstring).
    """

    labels: tuple[LabelT, ...]
    indices: tuple[int, ...]
    score: float
    latency_ms: float
    budget_ms: float
    resolution_ms: float
    exact: bool


def _gcd(values: Sequence[Fraction]) -> Fraction:
    """Greatest common divisor of positive fractions (the largest step they are multiples of)."""
    denominator = math.lcm(*(v.denominator for v in values))
    numerators = [int(v * denominator) for v in values]
    return Fraction(math.gcd(*numerators), denominator)


def _resolution(
    latencies: Sequence[Fraction], room: Fraction, resolution_ms: float | None, max_cells: int
) -> Fraction:
    """The grid step for ``room`` ms of layer budget (``room >= 0``)."""
    if resolution_ms is not None:
        step = Fraction(_check_number("resolution_ms", resolution_ms))
        if step <= 0:
            raise ValueError(f"resolution_ms={resolution_ms!r} is invalid; expected a number > 0")
        cells = math.floor(room / step)
        if cells > max_cells:
            raise ValueError(
                f"resolution_ms={resolution_ms!r} gives {cells} grid cells, over "
                f"max_cells={max_cells}; choose a coarser resolution or raise max_cells"
            )
        return step
    positive = [v for v in latencies if v > 0]
    if not positive:
        return Fraction(1)  # every latency is 0: any grid is exact
    step = _gcd(positive)
    if math.floor(room / step) <= max_cells:
        return step
    return room / max_cells


def _solve(
    weights: Sequence[Sequence[int]], scores: Sequence[Sequence[float]], capacity: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Best summed score for every exact grid weight ``0..capacity``, and the backpointers.

    ``best[c]`` is ``-inf`` where no choice weighs exactly ``c`` cells; ``back[i][c]`` is the
    candidate position ``i`` takes in the best choice of positions ``0..i`` weighing ``c``
    (the lowest index among equal scores).
    """
    best = np.full(capacity + 1, -np.inf)
    best[0] = 0.0
    back = []
    cells = np.arange(capacity + 1)
    for position_weights, position_scores in zip(weights, scores, strict=True):
        options = np.full((len(position_weights), capacity + 1), -np.inf)
        for k, (w, s) in enumerate(zip(position_weights, position_scores, strict=True)):
            if w <= capacity:
                options[k, w:] = best[: capacity + 1 - w] + s
        choice = np.argmax(options, axis=0)  # the first maximum: the lowest index wins ties
        best = options[choice, cells]
        back.append(choice.astype(np.min_scalar_type(len(position_weights) - 1)))
    return best, back


def extract_front(
    problem: ExtractionProblem[LabelT],
    budgets: Sequence[float],
    *,
    resolution_ms: float | None = None,
    max_cells: int = MAX_CELLS,
) -> list[Extraction[LabelT] | None]:
    """The best extraction for each budget (for score-versus-latency curves).

    One DP on the grid of the largest budget serves every budget, so each answer is the one
    :func:`extract` gives on that grid. With ``resolution_ms=None`` and latencies that are not
    multiples of a common step, the grid is the largest budget's ``max_cells`` cells.

    Args:
        problem: The candidates.
        budgets: Latency budgets in milliseconds, finite, in any order.
        resolution_ms: The grid step; ``None`` (default) picks one as described in the module
            docstring.
        max_cells: The most grid cells allowed (default ``MAX_CELLS``).

    Returns:
        Per budget, in the order given, its extraction, or ``None`` when nothing fits it.

    Raises:
        ValueError: a budget that is not finite, a ``resolution_ms`` that is not a finite
            number ``> 0`` or gives more than ``max_cells`` cells, or ``max_cells < 1``.
    """
    if isinstance(max_cells, bool) or not isinstance(max_cells, int) or max_cells < 1:
        raise ValueError(f"max_cells={max_cells!r} is invalid; expected an integer >= 1")
    values = [_check_number(f"budgets[{j}]", b) for j, b in enumerate(budgets)]
    base = Fraction(problem.base_ms)
    rooms = [Fraction(b) - base for b in values]
    out: list[Extraction[LabelT] | None] = [None] * len(values)
    if not rooms or max(rooms) < 0:
        if resolution_ms is not None:
            _resolution([], Fraction(0), resolution_ms, max_cells)  # still validate it
        return out
    latencies = [[Fraction(c.latency_ms) for c in position] for position in problem.layers]
    step = _resolution(
        [v for position in latencies for v in position], max(rooms), resolution_ms, max_cells
    )
    weights = [[math.ceil(v / step) for v in position] for position in latencies]
    exact = all((v / step).denominator == 1 for position in latencies for v in position)
    scores = [[c.score for c in position] for position in problem.layers]
    capacities = [math.floor(room / step) if room >= 0 else -1 for room in rooms]
    best, back = _solve(weights, scores, max(capacities))
    for j, capacity in enumerate(capacities):
        if capacity < 0 or not np.isfinite(best[: capacity + 1]).any():
            continue
        cell = int(np.argmax(best[: capacity + 1]))  # the lightest among equal scores
        indices = []
        for i in reversed(range(len(problem.layers))):
            k = int(back[i][cell])
            indices.append(k)
            cell -= weights[i][k]
        indices.reverse()
        chosen = [problem.layers[i][k] for i, k in enumerate(indices)]
        out[j] = Extraction(
            labels=tuple(c.label for c in chosen),
            indices=tuple(indices),
            score=math.fsum(c.score for c in chosen),
            latency_ms=math.fsum([problem.base_ms, *(c.latency_ms for c in chosen)]),
            budget_ms=values[j],
            resolution_ms=float(step),
            exact=exact,
        )
    return out


def extract(
    problem: ExtractionProblem[LabelT],
    budget_ms: float,
    *,
    resolution_ms: float | None = None,
    max_cells: int = MAX_CELLS,
) -> Extraction[LabelT]:
    """The highest-scoring choice whose latency is within ``budget_ms``.

    The guarantee is the module docstring's. Ties are broken deterministically: among choices
    of equal score (as summed by the DP, first position to last), the one with the fewest
    grid cells of latency; among those, going from the last position to the first, each
    position takes the lowest-index candidate that still completes such a choice.

    Args:
        problem: The candidates.
        budget_ms: The latency budget in milliseconds, ``base_ms`` included.
        resolution_ms: The grid step; ``None`` (default): the GCD of the latencies when that
            needs at most ``max_cells`` cells (exact), else the budget left after ``base_ms``
            split into ``max_cells`` cells.
        max_cells: The most grid cells allowed (default ``MAX_CELLS``).

    Raises:
        ValueError: nothing fits ``budget_ms`` (the message names the minimum achievable
            latency), or malformed arguments as in :func:`extract_front`.
    """
    (found,) = extract_front(
        problem, [budget_ms], resolution_ms=resolution_ms, max_cells=max_cells
    )
    if found is None:
        fastest = [min(Fraction(c.latency_ms) for c in position) for position in problem.layers]
        message = (
            f"no choice fits budget_ms={budget_ms!r}: the minimum achievable latency is "
            f"{problem.min_latency_ms:.6g} ms"
        )
        if Fraction(problem.base_ms) + sum(fastest) <= Fraction(budget_ms):
            message += (
                " but it does not fit once latencies are rounded up to the grid; "
                "choose a finer resolution_ms"
            )
        raise ValueError(message)
    return found
