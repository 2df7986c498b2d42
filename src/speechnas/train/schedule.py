"""Learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math

__all__ = ["warmup_cosine", "warmup_length"]


def warmup_cosine(
    step: int, *, peak: float, warmup: int, total: int, floor: float = 0.05
) -> float:
    """Learning rate at optimiser step ``step`` (0-based).

    Rises linearly from ``peak / warmup`` to ``peak`` over ``warmup`` steps, then follows a
    half cosine down to ``floor * peak`` at ``total`` steps and stays there.
    """
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def warmup_length(warmup: int, total: int, max_share: float = 1.0) -> int:
    """Warm-up steps of a run of ``total`` steps: ``warmup``, at most ``max_share`` of them.

    A warm-up longer than a short run is a learning rate that never arrives.
    """
    return min(warmup, int(max_share * total))
