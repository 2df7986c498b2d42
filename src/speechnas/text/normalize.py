"""Transcript normalisation, one policy for every language (training targets and WER alike).

:func:`normalize` applies, in order:

1. **Unicode NFKC**: composed accents (``e`` + U+0301 -> ``é``), full-width forms to ASCII
   (``ＡＢＣ１２３`` -> ``ABC123``), half-width katakana to full width, ligatures split
   (``ﬁ`` -> ``fi``), superscript digits to digits (``²`` -> ``2``).
2. **Lower case** with ``str.casefold``, except where full case folding changes spelling:

   * German (``de``): ``str.lower`` keeps ``ß`` (casefold writes ``ss``; ``Maße`` and ``Masse``
     are different words).
   * Greek (``el``): ``str.lower`` keeps the final sigma ``ς`` (casefold turns it into ``σ``).
   * Turkish and Azerbaijani (``tr``, ``az``): ``I`` -> ``ı`` and ``İ`` -> ``i`` first, then
     ``str.lower`` (casefold would give ``i`` and ``i`` + U+0307).
   * Cherokee (``chr``): ``str.lower`` (casefold maps Cherokee to upper case).

   NFKC is applied again after lowering, as in Unicode's NFKC_Casefold.
3. **Apostrophes**: the look-alikes U+2019, U+2018, U+02BC and the backtick become ``'``.
   An apostrophe between two word
   characters (letters, marks or digits) is kept (``don't``, ``l'homme``, ``aujourd'hui``);
   any other apostrophe is punctuation (``'quoted'`` -> ``quoted``). NOTE: this applies to all
   languages, not only English, so that French or Italian elisions stay one word.
4. **Punctuation and symbols**: every other character of Unicode category ``P*`` (including
   hyphens and dashes, so ``well-known`` -> ``well known``) or ``S*`` (``$ % + © €``), and
   control characters, become a space, and so does the zero width space (U+200B, a word
   break hint). Other format characters (``Cf``, e.g. soft hyphen, BOM) are dropped, except
   the zero-width (non-)joiners, which Persian and Indic scripts need. Letters (``L*``),
   marks (``M*``) and numbers (``N*``) are kept, so scripts with combining vowel signs
   (Devanagari, Thai) are untouched.
5. **Digits are kept as they are**: no number verbalisation (``42`` stays ``42``), and since
   ``.`` and ``,`` are punctuation, ``3.5`` becomes ``3 5``.
6. **Whitespace**: runs collapsed to one ASCII space, ends stripped.

Languages written without spaces between words (:data:`CHARACTER_LANGUAGES`: Chinese,
Japanese, Thai, ...) go through the same steps, with no word segmentation added or removed;
their error rate should be computed on characters (:func:`is_character_language`).

Language codes are BCP-47-like: only the primary subtag counts (``"en-US"`` -> ``"en"``,
``"zh_CN"`` -> ``"zh"``), case-insensitive.
"""

from __future__ import annotations

import unicodedata

__all__ = ["CHARACTER_LANGUAGES", "is_character_language", "normalize"]

#: Languages written without spaces between words; score them with character error rate.
CHARACTER_LANGUAGES: frozenset[str] = frozenset({"ja", "km", "lo", "my", "th", "yue", "zh"})

# Languages where str.casefold alters spelling; they use str.lower (see the module docstring).
_LOWER_LANGUAGES = frozenset({"az", "chr", "de", "el", "tr"})
_DOTTED_I_LANGUAGES = frozenset({"az", "tr"})

_APOSTROPHE = "'"
_APOSTROPHE_VARIANTS = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_JOINERS = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ
_ZERO_WIDTH_SPACE = "\u200b"


def _primary_subtag(language: str) -> str:
    return language.replace("_", "-").split("-", 1)[0].lower()


def is_character_language(language: str) -> bool:
    """True if ``language`` is written without word spaces (score it on characters).

    Example:
        >>> is_character_language("zh-CN"), is_character_language("en")
        (True, False)
    """
    return _primary_subtag(language) in CHARACTER_LANGUAGES


def _lower(text: str, lang: str) -> str:
    if lang in _DOTTED_I_LANGUAGES:
        text = text.replace("I", "\u0131").replace("\u0130", "i")
    if lang in _LOWER_LANGUAGES:
        return text.lower()
    return text.casefold()


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def _strip_punctuation(text: str) -> str:
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch == _APOSTROPHE:
            inside = 0 < i < last and _is_word_char(text[i - 1]) and _is_word_char(text[i + 1])
            out.append(ch if inside else " ")
            continue
        category = unicodedata.category(ch)
        if category[0] in "PS" or category == "Cc" or ch == _ZERO_WIDTH_SPACE:
            out.append(" ")
        elif category == "Cf" and ch not in _JOINERS:
            continue
        else:
            out.append(ch)
    return "".join(out)


def normalize(text: str, language: str = "en") -> str:
    """Normalise a transcript with the policy in the module docstring.

    Args:
        text: Raw transcript.
        language: Language code, e.g. ``"en"``, ``"de-DE"``, ``"zh"``. Default ``"en"``.

    Returns:
        Lower-case text without punctuation, words separated by single spaces.

    Example:
        >>> normalize("Don't STOP—it's “well-known”, ok?")
        "don't stop it's well known ok"
        >>> normalize("Die Straße", "de")
        'die straße'
    """
    lang = _primary_subtag(language)
    text = unicodedata.normalize("NFKC", text)
    text = _lower(text, lang)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_APOSTROPHE_VARIANTS)
    text = _strip_punctuation(text)
    return " ".join(text.split())
