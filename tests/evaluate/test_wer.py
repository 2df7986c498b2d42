from __future__ import annotations

import pytest

from speechnas.evaluate import NothingToScore, error_rates


def test_hand_counted_wer_and_cer() -> None:
    refs = ["the cat sat", "set an alarm for seven", "call mom"]
    hyps = ["the cat sat", "set alarm for eleven", "call my mom now"]
    # 1: no error. 2: "an" deleted, seven -> eleven (1 D + 1 S; any other alignment costs more).
    # 3: "my" and "now" inserted (2 I). 4 errors over 3 + 5 + 2 = 10 reference words.
    r = error_rates(refs, hyps)
    assert (r.substitutions, r.deletions, r.insertions) == (1, 1, 2)
    assert r.ref_words == 10
    assert r.wer == pytest.approx(4 / 10)
    # Characters (spaces removed): "seven" -> "eleven" is 1 S ('s'->'e') + 1 I ('e'),
    # "an" deleted is 2 D, "my" + "now" inserted is 5 I: 9 edits over 9 + 18 + 7 = 34 letters.
    assert r.cer == pytest.approx(9 / 34)


def test_normalisation_before_scoring() -> None:
    # Case and punctuation do not count as errors.
    r = error_rates(["Hello, World!"], ["hello world"])
    assert r.wer == 0.0 and r.cer == 0.0


def test_cer_counts_letters() -> None:
    # "abc" vs "abd": one substitution over 3 letters; spaces are not scored in CER.
    r = error_rates(["ab c"], ["ab d"])
    assert r.cer == pytest.approx(1 / 3)
    assert r.wer == pytest.approx(1 / 2)


def test_empty_hypothesis_is_all_deletions() -> None:
    r = error_rates(["one two three"], [""])
    assert r.wer == 1.0 and r.deletions == 3


def test_character_language_scores_characters() -> None:
    r = error_rates(["今天天气"], ["今天天汽"], language="zh-CN")
    assert r.wer == pytest.approx(1 / 4)


def test_length_mismatch() -> None:
    with pytest.raises(ValueError):
        error_rates(["a"], [])


@pytest.mark.parametrize("refs", [[], [""], ["?!", " ... "]])
def test_no_reference_word_is_an_error_not_zero(refs: list[str]) -> None:
    # A rate over zero reference words is undefined: reporting 0.0 would read as perfect.
    with pytest.raises(NothingToScore, match="nothing to score"):
        error_rates(refs, ["yes"] * len(refs))


def test_a_mixed_set_is_scored_by_each_languages_rules() -> None:
    from speechnas.evaluate.wer import error_rates_by_language

    refs = ["Die Straße ist lang", "東京に行く", "the cat sat"]
    hyps = ["die strasse ist lang", "東京へ行く", "the cat sat"]
    langs = ["de", "ja", "en"]
    overall, per = error_rates_by_language(refs, hyps, langs)
    assert list(per) == ["de", "en", "ja"]
    # German keeps ß (casefold would make the reference "strasse" and hide the error).
    assert per["de"].wer == pytest.approx(1 / 4)
    # Japanese has no word spaces: its WER is over characters, 1 of 5.
    assert per["ja"].wer == pytest.approx(1 / 5) and per["ja"].ref_words == 5
    assert per["en"].wer == 0.0
    # Pooled: every language's edits over every language's reference units.
    assert overall.wer == pytest.approx((1 + 1 + 0) / (4 + 5 + 3))
    de_chars = per["de"].ref_chars
    assert overall.cer == pytest.approx(
        (per["de"].cer * de_chars + per["ja"].cer * 5) / (de_chars + 5 + 9)
    )
    # Scored as one language (German rules for all), the Japanese WER would count one word.
    assert error_rates(refs, hyps, "de").wer != overall.wer
    # One language: the same as scoring it alone.
    alone = error_rates(refs[:1], hyps[:1], "de")
    assert error_rates_by_language(refs[:1], hyps[:1], ["de"]) == (alone, {"de": alone})
    with pytest.raises(NothingToScore):
        error_rates_by_language(["!"], ["a"], ["en"])
