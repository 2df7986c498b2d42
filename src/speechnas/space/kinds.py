"""The interface every space's encoding offers the strategies.

:class:`~speechnas.space.SpaceEncoding` (recognisers) and
:class:`~speechnas.space.TTSEncoding` (text-to-speech acoustic models) both turn a space into
a fixed list of :class:`~speechnas.space.Decision` and back; the strategies
(:mod:`speechnas.search.strategies`) propose through :class:`Encoding` alone, so the same
random, grid, TPE, GP, NSGA-II, evolution and RL searches serve both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from speechnas.arch.kinds import Spec
from speechnas.space._encoding import Decision

__all__ = ["Encoding", "SampledSpace"]


class SampledSpace(Protocol):
    """A space as the strategies use it: counted, sampled uniformly, indexed."""

    def count(self) -> int: ...

    def sample(self, rng: np.random.Generator) -> Spec: ...

    def spec_at(self, index: int) -> Spec: ...


class Encoding(Protocol):
    """A space as decisions (:class:`~speechnas.space.SpaceEncoding`'s contract):
    ``decode`` gives a model of the space for every assignment, ``encode`` is its inverse on
    the space and a projection outside it (``spec`` is of the space's kind)."""

    decisions: tuple[Decision, ...]

    @property
    def space(self) -> SampledSpace: ...

    def decision(self, name: str) -> Decision: ...

    def decode(self, indices: Mapping[str, int]) -> Spec: ...

    def encode(self, spec: Any) -> dict[str, int]: ...

    def project(self, spec: Any) -> Spec: ...
