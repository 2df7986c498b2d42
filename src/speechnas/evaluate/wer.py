"""Word and character error rates: the one implementation speechnas uses.

Normalisation: references and hypotheses are both passed through
:func:`speechnas.text.normalize` for their language (NFKC, lower case, punctuation removed,
whitespace collapsed) before scoring. Words are split on whitespace. Characters are scored
with spaces removed, so CER counts letter errors only. For languages written without spaces
(see :func:`speechnas.text.is_character_language`) WER is reported over characters, as is usual.

Error rates are corpus-level: total edits over total reference units, as jiwer computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jiwer

from speechnas.text import is_character_language, normalize

__all__ = ["ErrorRates", "error_rates"]


@dataclass(frozen=True)
class ErrorRates:
    """Corpus-level error rates and the counts behind them."""

    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    ref_chars: int
    utterances: int


def _chars(text: str) -> str:
    return " ".join(text.replace(" ", ""))


def error_rates(
    references: Sequence[str], hypotheses: Sequence[str], language: str = "en"
) -> ErrorRates:
    """Score ``hypotheses`` against ``references`` after normalisation.

    Utterances whose normalised reference is empty are left out (WER is undefined for them).

    Raises:
        ValueError: the two sequences differ in length.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    pairs = [
        (normalize(r, language), normalize(h, language))
        for r, h in zip(references, hypotheses, strict=True)
    ]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return ErrorRates(0.0, 0.0, 0, 0, 0, 0, 0, 0)
    refs = [r for r, _ in pairs]
    hyps = [h for _, h in pairs]
    char_refs = [_chars(r) for r in refs]
    char_hyps = [_chars(h) for h in hyps]
    if is_character_language(language):
        refs, hyps = char_refs, char_hyps
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_words(char_refs, char_hyps)
    return ErrorRates(
        wer=float(words.wer),
        cer=float(chars.wer),
        substitutions=int(words.substitutions),
        deletions=int(words.deletions),
        insertions=int(words.insertions),
        ref_words=sum(len(r.split()) for r in refs),
        ref_chars=sum(len(r.split()) for r in char_refs),
        utterances=len(pairs),
    )
