from __future__ import annotations

import pytest

from speechnas.reports import describe_quality


@pytest.mark.parametrize(
    ("wer", "cer", "verdict"),
    [
        (0.05, 0.02, "good"),
        (0.12, 0.05, "usable"),
        (0.30, 0.12, "rough"),
        (0.50, 0.25, "poor"),
        (0.85, 0.45, "very poor"),
        (0.97, 0.80, "not learned"),
        (0.0, 0.0, "good"),
    ],
)
def test_the_verdict_follows_the_scores(wer: float, cer: float, verdict: str) -> None:
    said = describe_quality(wer, cer)
    assert said.startswith(f"{verdict}: WER {100 * wer:.1f}%")
    assert f"CER {100 * cer:.1f}%" in said


def test_a_plateau_model_is_named_as_such_whatever_its_wer() -> None:
    assert "blank plateau" in describe_quality(0.4, 0.75)
    assert "blank plateau" not in describe_quality(0.99, 0.5)


def test_words_wrong_are_counted_plainly() -> None:
    assert "about 1 word in 4 wrong" in describe_quality(0.25, 0.1)
    assert "about 5 words in 10 wrong" in describe_quality(0.5, 0.2)
    assert "nearly every word wrong" in describe_quality(0.97, 0.5)


def test_nonsense_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        describe_quality(float("nan"), 0.1)
