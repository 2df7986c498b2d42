from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest

from speechnas.arch import ArchSpec, LayerSpec
from speechnas.extract import (
    MAX_CELLS,
    Candidate,
    Extraction,
    ExtractionProblem,
    extract,
    extract_front,
)
from speechnas.extract.layers import extracted_spec, layer_problem
from speechnas.hardware.lut import LatencyTable, model_parts
from speechnas.hardware.measure import untrained_model

Combo = tuple[int, ...]


def _combos(problem: ExtractionProblem[str]) -> list[Combo]:
    return list(itertools.product(*(range(len(position)) for position in problem.layers)))


def _score(problem: ExtractionProblem[str], combo: Combo) -> float:
    return sum(problem.layers[i][k].score for i, k in enumerate(combo))


def _exact_latency(problem: ExtractionProblem[str], combo: Combo) -> Fraction:
    latencies = (Fraction(problem.layers[i][k].latency_ms) for i, k in enumerate(combo))
    return Fraction(problem.base_ms) + sum(latencies, Fraction(0))


def _best_within(problem: ExtractionProblem[str], limit_ms: Fraction) -> float | None:
    """The best score of the choices whose exact latency is at most ``limit_ms``."""
    scores = [
        _score(problem, c) for c in _combos(problem) if _exact_latency(problem, c) <= limit_ms
    ]
    return max(scores) if scores else None


def _best_rounded(problem: ExtractionProblem[str], budget: float, step: Fraction) -> float | None:
    """The best score of the choices whose latencies, rounded up to ``step``, fit."""
    room = Fraction(budget) - Fraction(problem.base_ms)
    if room < 0:
        return None
    scores = []
    for combo in _combos(problem):
        latencies = (Fraction(problem.layers[i][k].latency_ms) for i, k in enumerate(combo))
        if sum(math.ceil(v / step) for v in latencies) <= math.floor(room / step):
            scores.append(_score(problem, combo))
    return max(scores) if scores else None


def _random_problem(
    rng: np.random.Generator, *, integer_scores: bool, on_grid: bool
) -> ExtractionProblem[str]:
    num_layers = int(rng.integers(1, 6))
    labels, scores, latencies = [], [], []
    for i in range(num_layers):
        k = int(rng.integers(1, 5))
        labels.append([f"op{i}.{j}" for j in range(k)])
        if integer_scores:  # ties are frequent and exact
            scores.append([float(s) for s in rng.integers(-3, 4, size=k)])
        else:
            scores.append([float(s) for s in rng.normal(size=k)])
        if on_grid:
            latencies.append([float(v) for v in rng.integers(0, 7, size=k)])
        else:
            latencies.append([float(v) for v in rng.uniform(0.0, 6.0, size=k)])
    base = float(rng.integers(0, 4)) if on_grid else float(rng.uniform(0.0, 3.0))
    return ExtractionProblem.from_lists(
        labels=labels, scores=scores, latency_ms=latencies, base_ms=base
    )


def _budget(rng: np.random.Generator, problem: ExtractionProblem[str], *, on_grid: bool) -> float:
    totals = [float(_exact_latency(problem, c)) for c in _combos(problem)]
    low, high = min(totals) - 1.0, max(totals) + 1.0
    return float(rng.integers(int(low), int(high) + 1)) if on_grid else rng.uniform(low, high)


def _tie_broken(problem: ExtractionProblem[str], budget: float) -> Combo:
    """The documented tie rule, by enumeration: best score, then fewest ms, then the choice
    whose indices, read from the last position to the first, are smallest."""
    fits = [c for c in _combos(problem) if _exact_latency(problem, c) <= Fraction(budget)]
    best = max(_score(problem, c) for c in fits)
    top = [c for c in fits if _score(problem, c) == best]
    lightest = min(_exact_latency(problem, c) for c in top)
    return min((c for c in top if _exact_latency(problem, c) == lightest), key=lambda c: c[::-1])


def _check_within(problem: ExtractionProblem[str], found: Extraction[str]) -> None:
    combo = found.indices
    assert found.labels == tuple(problem.layers[i][k].label for i, k in enumerate(combo))
    assert _exact_latency(problem, combo) <= Fraction(found.budget_ms)
    assert found.latency_ms <= found.budget_ms
    assert found.latency_ms == pytest.approx(float(_exact_latency(problem, combo)))
    assert found.score == pytest.approx(_score(problem, combo))


@pytest.mark.parametrize("integer_scores", [True, False])
@pytest.mark.parametrize("resolution_ms", [None, 1.0, 0.5])
def test_exactly_optimal_on_grid_latencies(
    integer_scores: bool, resolution_ms: float | None
) -> None:
    rng = np.random.default_rng(7 + integer_scores)
    infeasible = 0
    for _ in range(200):
        problem = _random_problem(rng, integer_scores=integer_scores, on_grid=True)
        budget = _budget(rng, problem, on_grid=True)
        best = _best_within(problem, Fraction(budget))
        if best is None:
            infeasible += 1
            with pytest.raises(ValueError, match=f"{problem.min_latency_ms:.6g} ms"):
                extract(problem, budget, resolution_ms=resolution_ms)
            continue
        found = extract(problem, budget, resolution_ms=resolution_ms)
        _check_within(problem, found)
        assert found.exact
        assert found.score == pytest.approx(best, abs=1e-12)
        if integer_scores:
            assert found.indices == _tie_broken(problem, budget)
    assert 0 < infeasible < 100  # both branches ran


@pytest.mark.parametrize("resolution_ms", [0.25, 0.5, 1.0, None])
def test_off_grid_latencies_are_rounded_up(resolution_ms: float | None) -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        problem = _random_problem(rng, integer_scores=False, on_grid=False)
        budget = _budget(rng, problem, on_grid=False)
        room = Fraction(budget) - Fraction(problem.base_ms)
        try:
            found = extract(problem, budget, resolution_ms=resolution_ms)
        except ValueError:
            found = None
        if resolution_ms is not None:
            step = Fraction(resolution_ms)
        elif found is not None and found.exact:  # e.g. one candidate: its latency is the step
            step = Fraction(found.resolution_ms)
        else:  # random latencies share no coarse step: the room split into MAX_CELLS cells
            step = max(room, Fraction(1)) / MAX_CELLS
            assert found is None or found.resolution_ms == float(step)

        true_best = _best_within(problem, Fraction(budget))
        shrunk_best = _best_within(problem, Fraction(budget) - step * len(problem.layers))
        if found is None:
            assert _best_rounded(problem, budget, step) is None and shrunk_best is None
            continue
        _check_within(problem, found)
        assert true_best is not None and found.score <= true_best + 1e-12
        if shrunk_best is not None:  # optimal within budget - num_layers * resolution
            assert found.score >= shrunk_best - 1e-12
        if resolution_ms is not None:  # optimal for the rounded-up latencies
            assert found.score == pytest.approx(_best_rounded(problem, budget, step), abs=1e-12)


def test_off_grid_default_grid_is_fine_and_not_exact() -> None:
    problem = ExtractionProblem.from_lists(
        labels=[["a", "b"]] * 3, scores=[[1.0, 2.0]] * 3, latency_ms=[[0.1, 0.3]] * 3
    )
    found = extract(problem, 0.75)
    assert not found.exact
    assert found.resolution_ms == pytest.approx(0.75 / MAX_CELLS)
    assert found.score == 5.0 and found.latency_ms <= 0.75
    # In exact arithmetic float 0.1 + 2 * 0.3 is just above float 0.7, so that choice is over.
    assert extract(problem, 0.7).score == 4.0


def test_budget_equal_to_a_choice_is_feasible() -> None:
    problem = ExtractionProblem.from_lists(
        labels=[["a", "b"], ["c", "d"]],
        scores=[[0.0, 1.0], [0.0, 2.0]],
        latency_ms=[[0.25, 1.5], [0.0, 2.75]],
        base_ms=0.125,
    )
    budget = 0.125 + 1.5 + 2.75
    found = extract(problem, budget)
    assert found.exact and found.labels == ("b", "d") and found.latency_ms == budget
    below = extract(problem, math.nextafter(budget, 0.0))
    assert below.labels == ("a", "d")
    integer = ExtractionProblem.from_lists(
        labels=[["a", "b"]], scores=[[0.0, 1.0]], latency_ms=[[1.0, 3.0]], base_ms=2.0
    )
    assert extract(integer, 5.0, resolution_ms=1.0).labels == ("b",)
    assert extract(integer, 4.999, resolution_ms=1.0).labels == ("a",)


def test_infeasible_budget_names_the_minimum() -> None:
    problem = ExtractionProblem.from_lists(
        labels=[["a", "b"], ["c"]],
        scores=[[0.0, 1.0], [0.0]],
        latency_ms=[[2.0, 1.0], [4.0]],
        base_ms=2.0,
    )
    with pytest.raises(ValueError, match="minimum achievable latency is 7 ms"):
        extract(problem, 6.5)
    assert extract(problem, 7.0).labels == ("b", "c")
    # Fits exactly, but not once 1.0 ms rounds up to two 0.75 ms cells.
    with pytest.raises(ValueError, match="finer resolution_ms"):
        extract(problem, 7.0, resolution_ms=0.75)
    with pytest.raises(ValueError, match="minimum achievable latency is 2 ms"):
        extract(
            ExtractionProblem.from_lists(
                labels=[["a"]], scores=[[0.0]], latency_ms=[[0.0]], base_ms=2.0
            ),
            1.0,
        )


def test_ties_are_deterministic() -> None:
    same = ExtractionProblem.from_lists(
        labels=[["x", "y", "z"]] * 2, scores=[[1.0, 1.0, 0.0]] * 2, latency_ms=[[1.0] * 3] * 2
    )
    assert {extract(same, 10.0).labels for _ in range(5)} == {("x", "x")}
    # Equal scores: the faster choice wins, whatever its index.
    faster = ExtractionProblem.from_lists(
        labels=[["slow", "fast"]], scores=[[1.0, 1.0]], latency_ms=[[3.0, 1.0]]
    )
    assert extract(faster, 10.0).labels == ("fast",)
    # Equal score and latency over two positions: the last position takes the lower index.
    swap = ExtractionProblem.from_lists(
        labels=[["a0", "a1"], ["b0", "b1"]],
        scores=[[0.0, 1.0], [1.0, 0.0]],
        latency_ms=[[1.0, 2.0], [2.0, 1.0]],
    )
    assert extract(swap, 3.0).labels == ("a0", "b0")


def test_front_matches_single_extractions() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        problem = _random_problem(rng, integer_scores=False, on_grid=True)
        budgets = [float(b) for b in rng.integers(0, 25, size=6)]
        front = extract_front(problem, budgets)
        assert len(front) == len(budgets)
        for budget, found in zip(budgets, front, strict=True):
            if found is None:
                with pytest.raises(ValueError):
                    extract(problem, budget)
            else:
                assert found == extract(problem, budget)
        scores = [f.score for _, f in sorted(zip(budgets, front, strict=True)) if f is not None]
        assert scores == sorted(scores)
    assert extract_front(problem, []) == []


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ExtractionProblem(()), "at least one position"),
        (lambda: ExtractionProblem(((Candidate("a", 0.0, 1.0),), ())), r"layers\[1\] has no"),
        (lambda: Candidate("a", 0.0, -1.0), "latency_ms=-1.0"),
        (lambda: Candidate("a", math.nan, 1.0), "score=nan"),
        (lambda: Candidate("a", 0.0, math.inf), "latency_ms=inf"),
        (lambda: ExtractionProblem(((Candidate("a", 0.0, 1.0),),), base_ms=-1.0), "base_ms"),
        (
            lambda: ExtractionProblem.from_lists(labels=[["a"]], scores=[[]], latency_ms=[[1.0]]),
            "position 0",
        ),
    ],
)
def test_malformed_problems(build: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_malformed_arguments() -> None:
    problem = ExtractionProblem(((Candidate("a", 0.0, 1.0),),))
    for resolution in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="resolution_ms"):
            extract(problem, 5.0, resolution_ms=resolution)
    with pytest.raises(ValueError, match="budgets"):
        extract(problem, math.nan)
    with pytest.raises(ValueError, match="grid cells"):
        extract(problem, 5.0, resolution_ms=1e-6)
    with pytest.raises(ValueError, match="max_cells"):
        extract(problem, 5.0, max_cells=0)


# --- priced by a latency table ---------------------------------------------------------------

BASE = ArchSpec.uniform(
    num_layers=3,
    width=32,
    heads=2,
    ffn_expansion=2.0,
    kernel=5,
    n_mels=40,
    subsampling_factor=8,
    time_reduction_layer=2,  # layers 0-1 before a stride-2 reduction, layer 2 after it
)
WIDE = LayerSpec(width=32, heads=2, ffn_expansion=2.0, kernel=5)
NARROW = LayerSpec(width=32, heads=2, ffn_expansion=1.0, kernel=3)
SKIP = LayerSpec(skip=True)


def _synthetic_table() -> LatencyTable:
    """A table of made-up measurements (a linear cost of MACs and frames), fast and exact."""
    table = LatencyTable({"name": "synthetic"}, audio_s=1.0)
    for spec in (BASE, BASE.with_layer(1, kernel=3)):
        parts = model_parts(untrained_model(spec), spec, 1.0)
        ms = [0.5 + p.macs / 1e6 + 0.02 * p.frames for p in parts]
        table.add(spec, parts, ms, sum(ms))
    return table


def test_layer_problem_sums_to_the_table_estimate() -> None:
    table = _synthetic_table()
    candidates = [[WIDE, NARROW], [WIDE, NARROW, SKIP], [NARROW, WIDE]]
    rng = np.random.default_rng(0)
    scores = [[float(s) for s in rng.normal(size=len(p))] for p in candidates]
    problem = layer_problem(BASE, candidates, scores, table)
    assert problem.layers[1][2].latency_ms == 0.0
    # Unseen signatures (NARROW after the reduction) are priced by the table's fit.
    assert all(c.latency_ms > 0 for p in problem.layers for c in p if not c.label.skip)
    totals = {}
    for combo in itertools.product(*(range(len(p)) for p in candidates)):
        spec = dataclasses.replace(
            BASE, layers=tuple(candidates[i][k] for i, k in enumerate(combo))
        )
        estimate = table.estimate(model_parts(untrained_model(spec), spec, 1.0))[0]
        assert float(_exact_latency(problem, combo)) == pytest.approx(estimate, rel=1e-9)
        totals[combo] = estimate
    ordered = sorted(set(totals.values()))
    budget = (ordered[3] + ordered[4]) / 2  # well away from every choice's latency
    found = extract(problem, budget)
    best = max((c for c in totals if totals[c] <= budget), key=lambda c: _score(problem, c))
    assert found.indices == best
    spec = extracted_spec(BASE, found)
    assert spec.layers == tuple(candidates[i][k] for i, k in enumerate(best))
    assert table.estimate(model_parts(untrained_model(spec), spec, 1.0))[0] <= budget


def test_layer_problem_needs_one_width_and_matching_shapes() -> None:
    table = _synthetic_table()
    wider = LayerSpec(width=64, heads=2, ffn_expansion=2.0, kernel=5)
    with pytest.raises(ValueError, match=r"widths \[32, 64\]"):
        layer_problem(BASE, [[WIDE], [WIDE, wider], [WIDE]], [[0.0], [0.0, 0.0], [0.0]], table)
    with pytest.raises(ValueError, match=r"candidates has 1 positions; .* \(3\)"):
        layer_problem(BASE, [[WIDE]], [[0.0]], table)
    with pytest.raises(ValueError, match="scores has 2 positions"):
        layer_problem(BASE, [[WIDE]] * 3, [[0.0]] * 2, table)
    with pytest.raises(ValueError, match="position 1"):
        layer_problem(BASE, [[WIDE], [WIDE, SKIP], [WIDE]], [[0.0], [0.0], [0.0]], table)


def test_extracted_spec_rejects_an_invalid_choice() -> None:
    chosen = Extraction(
        labels=(SKIP, SKIP, SKIP),
        indices=(0, 0, 0),
        score=0.0,
        latency_ms=1.0,
        budget_ms=1.0,
        resolution_ms=1.0,
        exact=True,
    )
    with pytest.raises(ValueError, match="kept layer"):
        extracted_spec(BASE, chosen)
