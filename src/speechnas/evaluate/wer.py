"""Word and character error rates: the one implementation speechnas uses.

Normalisation: references and hypotheses are both passed through
:func:`speechnas.text.normalize` for their language (NFKC, lower case, punctuation removed,
whitespace collapsed) before scoring. Words are split on whitespace. Characters are scored
with spaces removed, so CER counts letter errors only. For languages written without spaces
(see :func:`speechnas.text.is_character_language`) WER is reported over characters, as is usual.

Error rates are corpus-level: total edits over total reference units, as jiwer computes them.
With no reference word at all there is nothing to divide by: that is an error
(:class:`NothingToScore`), never a rate of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jiwer

from speechnas.errors import UserError
from speechnas.text import is_character_language, normalize

__all__ = ["ErrorRates", "NothingToScore", "error_rates"]


class NothingToScore(UserError):
    """A set with no utterance left to score: an error rate over nothing is not a number.

    ``where`` names the set (a name or a manifest), ``why`` says what was left out.
    """

    def __init__(self, where: str, why: str) -> None:
        self.where = where
        self.why = why
        super().__init__(f"{where}: nothing to score: {why}")

    def __reduce__(self) -> tuple[type[NothingToScore], tuple[str, str]]:
        return type(self), (self.where, self.why)


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
        NothingToScore: no reference has a word left after normalisation.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    pairs = [
        (normalize(r, language), normalize(h, language))
        for r, h in zip(references, hypotheses, strict=True)
    ]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        why = f"none of {len(references)} reference(s) has a word left after normalisation"
        raise NothingToScore("references", why)
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
