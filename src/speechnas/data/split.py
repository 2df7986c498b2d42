"""Speaker-disjoint train/dev splits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from speechnas.data.manifest import Utterance
from speechnas.errors import UserError

__all__ = ["split_by_speaker"]


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
        UserError: ``dev_fraction > 0`` but there are fewer than two speakers.

    Example:
        >>> from speechnas.data.manifest import Utterance
        >>> utts = [Utterance(f"u{i}", f"/a/{i}.wav", 1.0, "hi", f"s{i % 4}") for i in range(8)]
        >>> train, dev = split_by_speaker(utts, dev_fraction=0.25, seed=0)
        >>> len(train), len(dev)
        (6, 2)
    """
    if not 0.0 <= dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1), got {dev_fraction!r}")
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for utt in utts:
        by_speaker[utt.speaker].append(utt)
    total = sum(len(v) for v in by_speaker.values())
    if dev_fraction > 0 and len(by_speaker) < 2:
        raise UserError(
            f"a speaker-disjoint split needs at least two speakers, got {len(by_speaker)}"
        )
    speakers = sorted(by_speaker)
    order = np.random.default_rng(seed).permutation(len(speakers))
    target = dev_fraction * total
    dev_speakers: set[str] = set()
    dev_count = 0
    for index in order:
        speaker = speakers[int(index)]
        size = len(by_speaker[speaker])
        if abs(dev_count + size - target) < abs(dev_count - target):
            dev_speakers.add(speaker)
            dev_count += size
    if dev_fraction > 0 and not dev_speakers:
        dev_speakers.add(speakers[int(order[0])])
    train = [u for s in speakers if s not in dev_speakers for u in by_speaker[s]]
    dev = [u for s in speakers if s in dev_speakers for u in by_speaker[s]]
    train.sort(key=lambda u: u.id)
    dev.sort(key=lambda u: u.id)
    return train, dev
