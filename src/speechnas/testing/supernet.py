"""A tiny supernet space for tests: up to three narrow Conformer layers (trains in seconds)."""

from __future__ import annotations

import dataclasses
from typing import Any

from speechnas.arch import ArchSpec
from speechnas.supernet import SupernetSpace

__all__ = ["tiny_supernet_space"]


def tiny_supernet_space(**changes: Any) -> SupernetSpace:
    """1-3 layers of width 16 or 32, kernels 3 or 7, 2 or 4 heads, FFN x1 or x2."""
    base = ArchSpec.uniform(num_layers=1, width=32, heads=2, kernel=7, attention="rel", n_mels=40)
    fields: dict[str, Any] = {
        "base": dataclasses.replace(base, subsampling_channels=8),
        "min_layers": 1,
        "max_layers": 3,
        "widths": (16, 32),
        "kernels": (3, 7),
        "heads": (2, 4),
        "ffn_expansions": (1.0, 2.0),
    }
    fields.update(changes)
    return SupernetSpace(**fields)
