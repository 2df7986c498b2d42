"""Pareto fronts: exact non-dominated sorting, and a scalar fitness for single-score strategies.

Points are sequences of objective values, all to be minimised (flip the sign of an objective
to be maximised before calling). ``a`` dominates ``b`` when it is no worse in every objective
and better in at least one.

Example:
    >>> nondominated_ranks([(1, 5), (2, 2), (3, 3), (5, 1)])
    [0, 0, 1, 0]
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["dominates", "nondominated_ranks", "pareto_front", "scalar_fitness"]

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """Whether ``a`` is no worse than ``b`` everywhere and better somewhere (minimisation)."""
    better = False
    for x, y in zip(a, b, strict=True):
        if x > y:
            return False
        better = better or x < y
    return better


def nondominated_ranks(points: Sequence[Point]) -> list[int]:
    """Front index of every point: 0 for the Pareto front, 1 for the front without it, ...

    Exact (the O(M N^2) fast non-dominated sort of NSGA-II); equal points share a rank.
    """
    n = len(points)
    dominated_by = [0] * n  # how many points dominate i
    dominating: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i]):
                dominating[j].append(i)
                dominated_by[i] += 1
    ranks = [0] * n
    front = [i for i in range(n) if dominated_by[i] == 0]
    rank = 0
    while front:
        following = []
        for i in front:
            ranks[i] = rank
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        front = following
        rank += 1
    return ranks


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points, in input order."""
    return [i for i, r in enumerate(nondominated_ranks(points)) if r == 0]


def scalar_fitness(points: Sequence[Point]) -> list[float]:
    """One score per point, lower is better, for strategies that rank by a single number.

    One objective: the value itself. Several: the point's front index plus the mean of its
    objectives min-max normalised over ``points``, scaled into [0, 1): front first, then
    closeness to the best value of every objective.
    """
    if not points:
        return []
    if len(points[0]) == 1:
        return [float(p[0]) for p in points]
    ranks = nondominated_ranks(points)
    lows = [min(col) for col in zip(*points, strict=True)]
    highs = [max(col) for col in zip(*points, strict=True)]
    out = []
    for p, rank in zip(points, ranks, strict=True):
        norm = [
            (x - lo) / (hi - lo) if hi > lo else 0.0
            for x, lo, hi in zip(p, lows, highs, strict=True)
        ]
        out.append(rank + 0.999 * sum(norm) / len(norm))
    return out
