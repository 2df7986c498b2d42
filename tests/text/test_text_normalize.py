"""Normalisation policy on hand-written examples in several languages."""

from __future__ import annotations

import pytest

from speechnas.text import is_character_language, normalize


@pytest.mark.parametrize(
    ("raw", "language", "expected"),
    [
        # English: punctuation out, in-word apostrophes kept, hyphens split words.
        ("Don't STOP—it's “well-known”, OK?", "en", "don't stop it's well known ok"),
        ("Rock ’n’ roll: the students’ 'best' band!", "en", "rock n roll the students best band"),
        ("I can’t  \t go\n  home...", "en-US", "i can't go home"),
        ("Call 911 at 3.5 $ / 42%", "en", "call 911 at 3 5 42"),  # digits kept as they are
        # German: lower() keeps ß (casefold would write "ss"); umlauts kept.
        ("Die STRASSE und die Straße, ÄÖÜ!", "de", "die strasse und die straße äöü"),
        ("Die Straße", "en", "die strasse"),  # other languages casefold
        ("GROẞ", "de", "groß"),
        # French: accents kept, decomposed accents composed by NFKC, elision kept.
        ("Où est l’hôtel ? À bientôt !", "fr", "où est l'hôtel à bientôt"),
        ("Aujourd'hui, c'est l'été", "fr", "aujourd'hui c'est l'été"),
        ("cafe\u0301", "fr", "café"),
        # NFKC: full-width letters, digits and punctuation; half-width katakana; ligatures.
        ("ＨＥＬＬＯ，ｗｏｒｌｄ！１２３", "en", "hello world 123"),
        ("ﬁne", "en", "fine"),
        # Turkish dotted/dotless i, Greek final sigma.
        ("İSTANBUL ISPARTA", "tr", "istanbul ısparta"),
        ("ΟΔΟΣ", "el", "οδος"),
        # Scripts with combining marks are untouched.
        ("नमस्ते, दुनिया!", "hi", "नमस्ते दुनिया"),
        # Format characters: soft hyphen dropped, zero width space is a break.
        ("soft\u00adware zero\u200bwidth", "en", "software zero width"),
        ("", "en", ""),
        ("  ?! ", "en", ""),
    ],
)
def test_examples(raw: str, language: str, expected: str) -> None:
    assert normalize(raw, language) == expected


def test_greek_final_sigma_is_kept() -> None:
    assert normalize("ΟΔΟΣ", "el")[-1] == "ς"
    assert normalize("ΟΔΟΣ", "en")[-1] == "σ"  # what casefold does elsewhere


def test_chinese_and_japanese_characters_kept() -> None:
    assert normalize("你好，世界！", "zh") == "你好 世界"
    assert normalize("我用ＩＰＨＯＮＥ手机。", "zh-CN") == "我用iphone手机"
    assert normalize("ｶﾀｶﾅ　テスト。", "ja") == "カタカナ テスト"


def test_idempotent() -> None:
    for raw in ["Don't STOP—it's “well-known”", "Die Straße", "你好，世界！", "ΟΔΟΣ"]:
        once = normalize(raw, "de")
        assert normalize(once, "de") == once


def test_character_languages() -> None:
    assert is_character_language("zh")
    assert is_character_language("ja-JP")
    assert is_character_language("TH")
    assert is_character_language("zh_TW")
    assert not is_character_language("en")
    assert not is_character_language("de-DE")
