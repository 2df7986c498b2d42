"""One problem with one utterance: the record shared by corpus readers and validation."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["REASONS", "Problem"]

#: Every reason a problem can carry, in the order reports list them. The first five are the
#: :class:`~speechnas.errors.AudioError` reasons; the others are the checks of
#: :mod:`speechnas.data.usable`: a declared duration that is not finite or disagrees with the
#: audio, audio over the length limit, a transcript with no word left after normalisation.
REASONS: tuple[str, ...] = (
    "missing",
    "empty",
    "not audio",
    "unreadable",
    "zero duration",
    "bad duration",
    "too long",
    "empty text",
)


@dataclass(frozen=True, order=True)
class Problem:
    """Why one utterance (or one loose audio file) cannot be used.

    Attributes:
        utt_id: The utterance id (for a loose file: its path relative to the folder checked).
        path: The audio file's path.
        reason: One of :data:`REASONS`.
        detail: Free text from the decoder; not part of equality, so tests and counts rely only
            on ``(utt_id, path, reason)``.

    Example:
        >>> Problem("u1", "/data/u1.wav", "missing").reason
        'missing'
    """

    utt_id: str
    path: str
    reason: str
    detail: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"Problem.reason must be one of {REASONS}, got {self.reason!r}")
