"""Every kind of architecture a search proposes, as one interface.

A search's trials hold recognisers (:class:`~speechnas.arch.ArchSpec`) or text-to-speech
acoustic models (:class:`~speechnas.arch.tts.TTSSpec`); the strategies, the database and
the report handle either through :class:`Spec`, and :func:`spec_from_dict` reads either
back from what :meth:`Spec.to_dict` wrote. This module never imports torch.
"""

from __future__ import annotations

from typing import Any, Protocol

from speechnas.arch import ArchSpec
from speechnas.arch.tts import TTSSpec

__all__ = ["Spec", "as_recogniser", "as_tts", "spec_from_dict"]


class Spec(Protocol):
    """What the search needs of an architecture: an id (equal for the same model), a
    one-line summary and a JSON-serialisable dict."""

    @property
    def arch_id(self) -> str: ...

    def summary(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def spec_from_dict(data: dict[str, Any]) -> ArchSpec | TTSSpec:
    """The spec ``data`` (a :meth:`Spec.to_dict`) describes: a text-to-speech model when it
    has a duration predictor, else a recogniser.

    Raises:
        ValueError: ``data`` is not a valid spec of that kind (naming the key).
    """
    if "duration_layers" in data:
        return TTSSpec.from_dict(data)
    return ArchSpec.from_dict(data)


def as_recogniser(spec: Spec) -> ArchSpec:
    """``spec``, where the caller handles recognisers only.

    Raises:
        TypeError: ``spec`` is another kind (naming it).
    """
    if not isinstance(spec, ArchSpec):
        raise TypeError(f"expected a recogniser's ArchSpec, got a {type(spec).__name__}")
    return spec


def as_tts(spec: Spec) -> TTSSpec:
    """``spec``, where the caller handles text-to-speech models only.

    Raises:
        TypeError: ``spec`` is another kind (naming it).
    """
    if not isinstance(spec, TTSSpec):
        raise TypeError(f"expected a text-to-speech TTSSpec, got a {type(spec).__name__}")
    return spec
