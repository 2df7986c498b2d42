"""English number words for the grammar: ``21 -> "twenty one"``, ordinal ``21 -> "twenty first"``.

Words are joined with single spaces and never hyphenated, so that every token of a transcript is
a plain lower-case word (``"one hundred and five"`` uses British-style "and", as most TTS
front ends also speak it).
"""

from __future__ import annotations

__all__ = ["cardinal", "ordinal"]

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_MAX = 999_999


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
        if rest:
            words.append("and")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(_ONES[ones])
    elif rest or not hundreds:
        words.append(_ONES[rest])
    return words


def cardinal(n: int) -> str:
    """Spell a non-negative integer below one million, e.g. ``cardinal(1905)``.

    Args:
        n: The number, ``0 <= n <= 999_999``.

    Returns:
        Lower-case words separated by single spaces ("one thousand nine hundred and five").

    Raises:
        ValueError: ``n`` is out of range.
    """
    if not 0 <= n <= _MAX:
        raise ValueError(f"n must be in [0, {_MAX}], got {n}")
    thousands, rest = divmod(n, 1000)
    words: list[str] = []
    if thousands:
        words += _below_thousand(thousands) + ["thousand"]
        if 0 < rest < 100:
            words.append("and")
    if rest or not thousands:
        words += _below_thousand(rest)
    return " ".join(words)


def ordinal(n: int) -> str:
    """Spell an ordinal, e.g. ``ordinal(21) == "twenty first"``.

    Raises:
        ValueError: ``n`` is out of ``[1, 999_999]``.
    """
    if n < 1:
        raise ValueError(f"ordinals start at 1, got {n}")
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)
