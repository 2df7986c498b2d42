"""Exact latency-constrained extraction of an architecture from per-layer operator scores.

:func:`extract` picks one operator per layer position to maximise the summed score under a
latency budget (a multiple-choice knapsack solved by dynamic programming on a latency grid);
:func:`extract_front` does so for many budgets at once. The problem is plain data
(:class:`ExtractionProblem`) and this package imports no torch; building a problem from
candidate :class:`~speechnas.arch.LayerSpec` s and a
:class:`~speechnas.hardware.lut.LatencyTable` is in :mod:`speechnas.extract.layers`.
"""

from __future__ import annotations

from speechnas.extract._knapsack import (
    MAX_CELLS,
    Candidate,
    Extraction,
    ExtractionProblem,
    extract,
    extract_front,
)

__all__ = [
    "MAX_CELLS",
    "Candidate",
    "Extraction",
    "ExtractionProblem",
    "extract",
    "extract_front",
]
