from __future__ import annotations

import math

import pytest

from speechnas.data.manifest import Utterance
from speechnas.data.stats import DURATION_BINS, LanguageStats, compute_stats, render_stats


def test_stats_counts_and_histogram() -> None:
    utts = [
        Utterance("a", "/a.wav", 0.5, "x", "s1", "en"),
        Utterance("b", "/b.wav", 1.5, "y", "s1", "en"),
        Utterance("c", "/c.wav", 40.0, "", "s2", "de"),
        Utterance("d", "/d.wav", 0.0, "z", "s3", "en"),  # unknown duration
    ]
    stats = compute_stats(utts)
    assert (stats.num_utterances, stats.num_speakers) == (4, 3)
    assert stats.languages == {"de": 1, "en": 3}
    assert stats.hours == pytest.approx(42.0 / 3600)
    assert (stats.min_duration, stats.max_duration) == (0.5, 40.0)
    assert stats.mean_duration == pytest.approx(14.0)
    assert stats.num_unknown_duration == 1 and stats.num_empty_text == 1
    counts = [n for _, _, n in stats.histogram]
    assert len(counts) == len(DURATION_BINS) - 1 and sum(counts) == 3
    assert counts[0] == counts[1] == counts[-1] == 1
    assert stats.histogram[-1][1] == math.inf
    assert stats.per_language["en"] == LanguageStats(utterances=3, speakers=2, hours=2.0 / 3600)
    assert stats.per_language["de"] == LanguageStats(utterances=1, speakers=1, hours=40.0 / 3600)
    text = render_stats(stats)
    assert "utterances" in text and "de: 1, en: 3" in text and "30+ s" in text
    assert "per language:" in text
    assert "per language:" not in render_stats(compute_stats(utts[:2]))


def test_stats_of_nothing() -> None:
    stats = compute_stats([])
    assert stats.num_utterances == 0 and stats.mean_duration == 0.0
    assert "duration histogram" in render_stats(stats)


def test_stats_count_what_training_cannot_use() -> None:
    # The same definitions as validate and training: a punctuation-only transcript is empty,
    # and a duration that is not finite is no length.
    utts = [
        Utterance("a", "/a.wav", 1.5, "Yes!", "s1"),
        Utterance("b", "/b.wav", math.inf, "?! ...", "s1"),
        Utterance("c", "/c.wav", 2.5, "--", "s1"),
    ]
    stats = compute_stats(utts)
    assert stats.num_empty_text == 2
    assert stats.num_unknown_duration == 1
    assert (stats.max_duration, stats.mean_duration) == (2.5, 2.0)
    assert stats.hours == pytest.approx(4.0 / 3600)
