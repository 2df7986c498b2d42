"""What makes an utterance usable: one definition for validation, training, evaluation and
statistics.

An utterance is usable when

- its audio decodes (:func:`~speechnas.data.audio.load_audio`; the reasons it may not are the
  :class:`~speechnas.errors.AudioError` ones),
- its transcript keeps at least one word after :func:`~speechnas.text.normalize` (a transcript
  of spaces or punctuation only has nothing to learn or score: reason ``empty text``),
- and, for training, its audio is no longer than the run's limit (reason ``too long``;
  :data:`MAX_UTTERANCE_SECONDS` by default). Evaluation scores long audio in windows instead.

A declared duration (a manifest's ``duration``) is known when it is finite and positive;
``0.0`` means unknown, and anything not finite is treated as unknown too (and reported by
``speechnas data validate`` as ``bad duration``, as is one that disagrees with the audio).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from speechnas.data.manifest import Utterance
from speechnas.text import normalize

__all__ = [
    "DURATION_TOLERANCE",
    "MAX_UTTERANCE_SECONDS",
    "duration_known",
    "duration_problem",
    "length_problem",
    "tokenizer_texts",
    "transcript_problem",
]

#: The default length limit of a training utterance in seconds (``TrainConfig``'s
#: ``max_utterance_seconds`` and ``data validate --max-seconds``), and the window in which
#: evaluation scores longer audio. Self-attention memory grows with the square of the length:
#: one 600 s clip needs gigabytes even for a tiny model, while 60 s covers every utterance of
#: the usual read-speech corpora (LibriSpeech's longest is 35 s).
MAX_UTTERANCE_SECONDS = 60.0

#: ``(seconds, fraction)``: a declared duration may differ from the decoded one by the larger
#: of the two (compressed formats pad or trim a few milliseconds; manifests round).
DURATION_TOLERANCE = (0.1, 0.01)


def duration_known(seconds: float) -> bool:
    """Whether a declared duration can be trusted as a length: finite and positive."""
    return math.isfinite(seconds) and seconds > 0


def transcript_problem(text: str, language: str = "en") -> str | None:
    """``"empty text"`` if ``text`` has no word left after normalisation, else ``None``.

    Example:
        >>> transcript_problem("?!"), transcript_problem("Yes!")
        ('empty text', None)
    """
    return None if normalize(text, language) else "empty text"


def duration_problem(declared: float, decoded: float) -> str | None:
    """Why a declared duration disagrees with the decoded audio's, or ``None``.

    ``declared == 0.0`` means unknown and is never a problem.

    Example:
        >>> duration_problem(1e308, 1.3)
        'declared 1e+308 s, decoded 1.300 s'
        >>> duration_problem(1.3, 1.3) is None and duration_problem(0.0, 1.3) is None
        True
    """
    if declared == 0.0:
        return None
    if not math.isfinite(declared):
        return f"declared {declared} s, not a finite number"
    absolute, relative = DURATION_TOLERANCE
    if abs(declared - decoded) > max(absolute, relative * decoded):
        return f"declared {declared:g} s, decoded {decoded:.3f} s"
    return None


def length_problem(seconds: float, max_seconds: float | None) -> str | None:
    """Why audio of ``seconds`` is over ``max_seconds`` (``None``: no limit), or ``None``.

    Example:
        >>> length_problem(600.0, 60.0)
        '600.0 s, over the limit of 60 s'
    """
    if max_seconds is None or seconds <= max_seconds:
        return None
    return f"{seconds:.1f} s, over the limit of {max_seconds:g} s"


def tokenizer_texts(utterances: Iterable[Utterance]) -> list[str]:
    """The normalised transcripts of ``utterances`` that keep a word: what a tokenizer is
    built from (an empty one is not usable, and teaches it nothing)."""
    return [t for t in (normalize(u.text, u.language) for u in utterances) if t]
