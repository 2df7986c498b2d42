"""How good a recogniser is, said in words a report reader can act on."""

from __future__ import annotations

__all__ = ["PLATEAU_CER", "describe_quality"]

#: At or above this CER a CTC model has not left the blank plateau: it emits few characters.
PLATEAU_CER = 0.7

#: (WER below, verdict), best first.
_BANDS = (
    (0.10, "good"),
    (0.20, "usable"),
    (0.35, "rough"),
    (0.60, "poor"),
)


def describe_quality(wer: float, cer: float) -> str:
    """One sentence on a model's quality from its WER and CER (fractions, not percent).

    >>> describe_quality(0.12, 0.05)
    'usable: WER 12.0% (about 1 word in 8 wrong), CER 5.0%'
    >>> describe_quality(0.787, 0.335).split(";")[0]
    'very poor: WER 78.7% (about 8 words in 10 wrong), CER 33.5%'
    """
    if not (wer >= 0 and cer >= 0):
        raise ValueError(f"WER and CER must be >= 0, got {wer!r} and {cer!r}")
    scores = f"WER {100 * wer:.1f}%"
    if 0 < wer < 0.5:
        scores += f" (about 1 word in {round(1 / wer)} wrong)"
    elif 0.5 <= wer < 0.95:
        scores += f" (about {round(10 * wer)} words in 10 wrong)"
    elif 0.95 <= wer < 1:
        scores += " (nearly every word wrong)"
    scores += f", CER {100 * cer:.1f}%"
    if cer >= PLATEAU_CER:
        return (
            f"not learned: {scores}; it has not left the CTC blank plateau (it emits few "
            "characters), so it needs more training steps, data or a warm start"
        )
    for limit, verdict in _BANDS:
        if wer < limit:
            return f"{verdict}: {scores}"
    return f"very poor: {scores}; most words are wrong, though it has learned some characters"
