"""Corpus statistics: size, speakers, languages and a duration histogram."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from speechnas.data.manifest import Utterance
from speechnas.data.usable import duration_known, transcript_problem

__all__ = [
    "DURATION_BINS",
    "CorpusStats",
    "LanguageStats",
    "bin_label",
    "compute_stats",
    "histogram_bar",
    "render_stats",
    "summary_rows",
]

#: Histogram bin edges in seconds: ``[0, 1), [1, 2), ..., [30, inf)``. Fixed so that two
#: corpora's histograms can be compared line by line.
DURATION_BINS: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, math.inf)


@dataclass(frozen=True)
class LanguageStats:
    """One language's share of a corpus: utterances, distinct speakers, hours (known
    durations only)."""

    utterances: int
    speakers: int
    hours: float


@dataclass(frozen=True)
class CorpusStats:
    """Summary of a list of utterances.

    Durations of 0.0 mean "unknown" in a manifest, and one that is not finite cannot be a
    length (:func:`~speechnas.data.usable.duration_known`), so both are counted in
    ``num_unknown_duration`` and left out of the hours, min/mean/max and the histogram.

    Attributes:
        num_utterances: Number of utterances.
        num_speakers: Number of distinct speakers.
        hours: Total duration in hours.
        languages: Utterances per language, sorted by language code.
        min_duration: Shortest known duration in seconds (0.0 if none is known).
        mean_duration: Mean known duration in seconds (0.0 if none is known).
        max_duration: Longest known duration in seconds (0.0 if none is known).
        num_unknown_duration: Utterances with duration 0.0 or not finite.
        num_empty_text: Utterances whose text has no word left after normalisation (training
            skips them; :func:`~speechnas.data.usable.transcript_problem`).
        histogram: ``(low, high, count)`` per bin of :data:`DURATION_BINS`.
        per_language: :class:`LanguageStats` per language, sorted by language code.
    """

    num_utterances: int
    num_speakers: int
    hours: float
    languages: dict[str, int]
    min_duration: float
    mean_duration: float
    max_duration: float
    num_unknown_duration: int
    num_empty_text: int
    histogram: tuple[tuple[float, float, int], ...]
    per_language: dict[str, LanguageStats]


def compute_stats(utts: Sequence[Utterance]) -> CorpusStats:
    """Compute :class:`CorpusStats` for ``utts``.

    Example:
        >>> from speechnas.data.manifest import Utterance
        >>> s = compute_stats([Utterance("a", "/a.wav", 1.5, "hi", "s1")])
        >>> s.num_utterances, s.num_speakers, s.histogram[1]
        (1, 1, (1.0, 2.0, 1))
    """
    known = [u.duration for u in utts if duration_known(u.duration)]
    counts = [0] * (len(DURATION_BINS) - 1)
    for d in known:
        for i in range(len(counts)):
            if DURATION_BINS[i] <= d < DURATION_BINS[i + 1]:
                counts[i] += 1
                break
    histogram = tuple((DURATION_BINS[i], DURATION_BINS[i + 1], n) for i, n in enumerate(counts))
    return CorpusStats(
        num_utterances=len(utts),
        num_speakers=len({u.speaker for u in utts}),
        hours=sum(known) / 3600.0,
        languages=dict(sorted(Counter(u.language for u in utts).items())),
        min_duration=min(known, default=0.0),
        mean_duration=sum(known) / len(known) if known else 0.0,
        max_duration=max(known, default=0.0),
        num_unknown_duration=len(utts) - len(known),
        num_empty_text=sum(1 for u in utts if transcript_problem(u.text, u.language)),
        histogram=histogram,
        per_language={
            language: LanguageStats(
                utterances=len(part),
                speakers=len({u.speaker for u in part}),
                hours=sum(u.duration for u in part if duration_known(u.duration)) / 3600.0,
            )
            for language in sorted({u.language for u in utts})
            for part in [[u for u in utts if u.language == language]]
        },
    )


def bin_label(low: float, high: float) -> str:
    """``"1-2 s"`` or, for the open last bin, ``"30+ s"``."""
    return f"{low:g}+ s" if math.isinf(high) else f"{low:g}-{high:g} s"


def summary_rows(stats: CorpusStats) -> list[tuple[str, str]]:
    """The summary as ``(name, value)`` rows, shared by :func:`render_stats` and the CLI."""
    langs = ", ".join(f"{k}: {v:,}" for k, v in stats.languages.items()) or "-"
    return [
        ("utterances", f"{stats.num_utterances:,}"),
        ("speakers", f"{stats.num_speakers:,}"),
        ("hours", f"{stats.hours:.3f}"),
        ("languages", langs),
        ("min duration (s)", f"{stats.min_duration:.2f}"),
        ("mean duration (s)", f"{stats.mean_duration:.2f}"),
        ("max duration (s)", f"{stats.max_duration:.2f}"),
        ("unknown duration", f"{stats.num_unknown_duration:,}"),
        ("empty text", f"{stats.num_empty_text:,}"),
    ]


def histogram_bar(count: int, largest: int, width: int = 40) -> str:
    """A bar of ``#`` proportional to ``count / largest`` (at least one ``#`` if nonzero)."""
    if count == 0 or largest == 0:
        return ""
    return "#" * max(1, round(width * count / largest))


def render_stats(stats: CorpusStats, *, width: int = 40) -> str:
    """Plain-text report: the summary, then one histogram line per duration bin.

    Args:
        stats: What :func:`compute_stats` returned.
        width: Length in characters of the longest histogram bar. Default 40.

    Returns:
        Lines joined by ``\\n`` (no trailing newline).
    """
    rows = summary_rows(stats)
    name_width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{name_width}}  {value}" for name, value in rows]
    if len(stats.per_language) > 1:
        lines.append("per language:")
        lines.extend(
            f"  {language:>10} {x.utterances:>8,} utterances {x.speakers:>6,} speakers "
            f"{x.hours:>8.3f} h"
            for language, x in stats.per_language.items()
        )
    lines.append("duration histogram:")
    largest = max((n for _, _, n in stats.histogram), default=0)
    for low, high, n in stats.histogram:
        bar = histogram_bar(n, largest, width)
        lines.append(f"  {bin_label(low, high):>8} {n:>8,} {bar}".rstrip())
    return "\n".join(lines)
