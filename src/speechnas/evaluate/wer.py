"""Word and character error rates: the one implementation speechnas uses.

Normalisation: references and hypotheses are both passed through
:func:`speechnas.text.normalize` for their language (NFKC, lower case, punctuation removed,
whitespace collapsed) before scoring. Words are split on whitespace. Characters are scored
with spaces removed, so CER counts letter errors only. For languages written without spaces
(see :func:`speechnas.text.is_character_language`) WER is reported over characters, as is usual.

Error rates are corpus-level: total edits over total reference units, as jiwer computes them.
A set of several languages is scored language by language, each by its own rules
(:func:`error_rates_by_language`); its overall rates pool the edits and reference units of all
of them.
With no reference word at all there is nothing to divide by: that is an error
(:class:`NothingToScore`), never a rate of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jiwer

from speechnas.errors import UserError
from speechnas.text import is_character_language, normalize

__all__ = ["ErrorRates", "NothingToScore", "error_rates", "error_rates_by_language"]


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


def error_rates_by_language(
    references: Sequence[str], hypotheses: Sequence[str], languages: Sequence[str]
) -> tuple[ErrorRates, dict[str, ErrorRates]]:
    """Score each utterance by the rules of its own language: the overall rates and the
    rates per language (sorted by code).

    The overall rates pool every language's edits and reference units (a character
    language's words are its characters, as in its own WER). A language whose references
    all normalise to nothing is left out; for a set of one language the overall rates are
    that language's.

    Raises:
        ValueError: the sequences differ in length.
        NothingToScore: no reference of any language has a word left after normalisation.
    """
    if not len(references) == len(hypotheses) == len(languages):
        raise ValueError(
            f"{len(references)} references, {len(hypotheses)} hypotheses and "
            f"{len(languages)} languages"
        )
    per: dict[str, ErrorRates] = {}
    for language in sorted(set(languages)):
        idx = [i for i, x in enumerate(languages) if x == language]
        refs = [references[i] for i in idx]
        if not any(normalize(r, language) for r in refs):
            continue
        per[language] = error_rates(refs, [hypotheses[i] for i in idx], language)
    if not per:
        why = f"none of {len(references)} reference(s) has a word left after normalisation"
        raise NothingToScore("references", why)
    if len(per) == 1:
        return next(iter(per.values())), per
    words = sum(r.ref_words for r in per.values())
    chars = sum(r.ref_chars for r in per.values())
    overall = ErrorRates(
        wer=sum(r.wer * r.ref_words for r in per.values()) / words,
        cer=sum(r.cer * r.ref_chars for r in per.values()) / chars,
        substitutions=sum(r.substitutions for r in per.values()),
        deletions=sum(r.deletions for r in per.values()),
        insertions=sum(r.insertions for r in per.values()),
        ref_words=words,
        ref_chars=chars,
        utterances=sum(r.utterances for r in per.values()),
    )
    return overall, per
