"""Speaker-disjoint train/dev splits."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from speechnas.data.manifest import Utterance
from speechnas.errors import UserError

__all__ = ["split_by_speaker"]

log = logging.getLogger(__name__)


def split_by_speaker(
    utts: Iterable[Utterance], *, dev_fraction: float, seed: int
) -> tuple[list[Utterance], list[Utterance]]:
    """Split utterances into train and dev so that no speaker is in both.

    The rule: speakers are sorted by id, then shuffled with ``numpy.random.default_rng(seed)``.
    Walking that order, a speaker goes to dev (with all of their utterances) when that brings
    the dev utterance count closer to ``dev_fraction * len(utts)`` than leaving it out would;
    otherwise the speaker stays in train and the walk goes on, so smaller speakers can still
    fill the gap. If that leaves dev empty while ``dev_fraction > 0`` (every speaker is larger
    than twice the target), the first speaker of the shuffled order goes to dev.

    A corpus of several languages is split within each language (languages in sorted order,
    each with its own shuffle drawn from ``seed`` and its place in that order), so every
    language has its share in dev; a speaker heard in several languages is placed once, by
    the first of them, and counts towards the dev share of the others where it went to dev.
    A language heard from one speaker only stays in train, with a warning (it is placed
    first, so its speaker is never one another language sent to dev).

    So the dev share is measured in utterances, not speakers, and (fallback aside) lands
    within half the largest speaker's utterance count of the target. The result depends only
    on the set of utterances and ``seed``, not on their input order.

    Args:
        utts: The utterances.
        dev_fraction: Target share of utterances in dev, in ``[0, 1)``.
        seed: Seed of the shuffle.

    Returns:
        ``(train, dev)``, each sorted by utterance id.

    Raises:
        ValueError: ``dev_fraction`` is outside ``[0, 1)``.
        UserError: ``dev_fraction > 0`` but there are fewer than two speakers. (A language of
            a corpus of several with one speaker stays in train, with a warning naming it.)

    Example:
        >>> from speechnas.data.manifest import Utterance
        >>> utts = [Utterance(f"u{i}", f"/a/{i}.wav", 1.0, "hi", f"s{i % 4}") for i in range(8)]
        >>> train, dev = split_by_speaker(utts, dev_fraction=0.25, seed=0)
        >>> len(train), len(dev)
        (6, 2)
    """
    if not 0.0 <= dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1), got {dev_fraction!r}")
    utts = list(utts)
    languages = sorted({u.language for u in utts}) or ["-"]
    several = len(languages) > 1
    parts = {x: [u for u in utts if u.language == x] if several else utts for x in languages}
    # Languages of one speaker first: that speaker stays in train (none can be in dev), so
    # a language heard from a speaker another language sent to dev is never left all in dev.
    order = sorted(languages, key=lambda x: (len({u.speaker for u in parts[x]}) > 1, x))
    dev_speakers: set[str] = set()
    decided: set[str] = set()
    for language in order:
        # Each language's own draw, from the seed and the language's place in sorted order.
        index = languages.index(language)
        rng = np.random.default_rng([seed, index] if several else seed)
        _walk(parts[language], dev_fraction, rng, dev_speakers, decided, language, several)
    train = sorted((u for u in utts if u.speaker not in dev_speakers), key=lambda u: u.id)
    dev = sorted((u for u in utts if u.speaker in dev_speakers), key=lambda u: u.id)
    return train, dev


def _walk(
    utts: list[Utterance],
    dev_fraction: float,
    rng: np.random.Generator,
    dev_speakers: set[str],
    decided: set[str],
    language: str,
    several: bool,
) -> None:
    """Send speakers of ``utts`` not yet ``decided`` to dev by the docstring's rule, counting
    the utterances of speakers already in dev; add them to ``dev_speakers`` and ``decided``."""
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for utt in utts:
        by_speaker[utt.speaker].append(utt)
    total = sum(len(v) for v in by_speaker.values())
    if dev_fraction > 0 and len(by_speaker) < 2:
        if not several:
            raise UserError(
                f"a speaker-disjoint split needs at least two speakers, got {len(by_speaker)}"
            )
        log.warning(
            "language %r has one speaker: it stays in train (no speaker-disjoint dev)", language
        )
        decided.update(by_speaker)
        return
    speakers = sorted(by_speaker)
    order = rng.permutation(len(speakers))
    target = dev_fraction * total
    dev_count = sum(len(by_speaker[s]) for s in speakers if s in dev_speakers)
    free = [speakers[int(i)] for i in order if speakers[int(i)] not in decided]
    for speaker in free:
        size = len(by_speaker[speaker])
        if abs(dev_count + size - target) < abs(dev_count - target):
            dev_speakers.add(speaker)
            dev_count += size
    if dev_fraction > 0 and not dev_count and free:
        dev_speakers.add(free[0])
    decided.update(free)
