"""Front-ends by name, for search spaces and configs: ``build_frontend("logmel", n_mels=80)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from speechnas.features._base import Frontend
from speechnas.features.learnable import LearnableFilterbank
from speechnas.features.mel import LogMel
from speechnas.features.mfcc import MFCC

__all__ = ["FRONTENDS", "SEARCH_N_MELS", "build_frontend"]

#: Name -> factory taking ``n_mels=`` and the class's keyword arguments.
FRONTENDS: dict[str, Callable[..., Frontend]] = {
    "learnable": LearnableFilterbank,
    "logmel": LogMel,
    "mfcc": MFCC,
}

#: The mel band counts a search space offers; :func:`build_frontend` accepts any positive int.
SEARCH_N_MELS: tuple[int, ...] = (40, 64, 80)


def build_frontend(name: str, *, n_mels: int = 80, **kwargs: Any) -> Frontend:
    """Build the front-end called ``name``.

    Args:
        name: ``"logmel"``, ``"mfcc"`` or ``"learnable"``.
        n_mels: Mel bands (for ``"mfcc"``, the bands before the DCT). Default 80.
        **kwargs: Passed to the class, e.g. ``n_mfcc=40`` or ``normalize="none"``.

    Returns:
        A :class:`~speechnas.features.Frontend`.

    Raises:
        ValueError: for an unknown ``name`` (the message lists the valid ones) or a
            non-positive ``n_mels``.

    Example:
        >>> build_frontend("mfcc", n_mels=40, n_mfcc=13).num_features
        13
    """
    if name not in FRONTENDS:
        raise ValueError(f"unknown front-end name {name!r}; valid names: {sorted(FRONTENDS)}")
    if isinstance(n_mels, bool) or not isinstance(n_mels, int) or n_mels <= 0:
        raise ValueError(f"n_mels must be a positive int, got {n_mels!r}")
    return FRONTENDS[name](n_mels=n_mels, **kwargs)
