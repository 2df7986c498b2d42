from __future__ import annotations

import random

import pytest

from speechnas.data.manifest import Utterance
from speechnas.data.split import split_by_speaker
from speechnas.errors import UserError


def corpus(num_speakers: int = 40, seed: int = 0) -> list[Utterance]:
    # Uneven speakers (1 to 20 utterances) so that the fraction rule matters.
    rng = random.Random(seed)
    utts = []
    for s in range(num_speakers):
        for i in range(rng.randint(1, 20)):
            utts.append(Utterance(f"s{s:02d}-{i:02d}", f"/a/{s}-{i}.wav", 1.0, "t", f"spk{s}"))
    return utts


def speakers(utts: list[Utterance]) -> set[str]:
    return {u.speaker for u in utts}


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3])
def test_disjoint_complete_and_close_to_fraction(seed: int, fraction: float) -> None:
    utts = corpus()
    train, dev = split_by_speaker(utts, dev_fraction=fraction, seed=seed)
    assert not speakers(train) & speakers(dev)
    assert sorted(train + dev, key=lambda u: u.id) == sorted(utts, key=lambda u: u.id)
    # documented bound: within half the largest speaker's count of the target
    largest = max(sum(u.speaker == s for u in utts) for s in speakers(utts))
    assert abs(len(dev) - fraction * len(utts)) <= largest / 2
    assert [u.id for u in dev] == sorted(u.id for u in dev)


def test_deterministic_under_seed_and_seed_matters() -> None:
    utts = corpus()
    first = split_by_speaker(utts, dev_fraction=0.2, seed=3)
    assert split_by_speaker(utts, dev_fraction=0.2, seed=3) == first
    others = {
        frozenset(speakers(split_by_speaker(utts, dev_fraction=0.2, seed=s)[1])) for s in range(5)
    }
    assert len(others) > 1


def test_independent_of_input_order() -> None:
    utts = corpus()
    shuffled = list(utts)
    random.Random(1).shuffle(shuffled)
    assert split_by_speaker(shuffled, dev_fraction=0.1, seed=0) == split_by_speaker(
        utts, dev_fraction=0.1, seed=0
    )


def test_zero_fraction_and_fallback() -> None:
    utts = corpus(5)
    train, dev = split_by_speaker(utts, dev_fraction=0.0, seed=0)
    assert dev == [] and len(train) == len(utts)
    # two big speakers and a tiny target: dev still gets one whole speaker
    big = [Utterance(f"{s}{i}", "/a.wav", 1.0, "t", s) for s in "ab" for i in range(10)]
    train, dev = split_by_speaker(big, dev_fraction=0.01, seed=0)
    assert len(speakers(dev)) == 1 and len(dev) == 10


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dev_fraction"):
        split_by_speaker(corpus(3), dev_fraction=1.0, seed=0)
    one = [Utterance("a", "/a.wav", 1.0, "t", "only")]
    with pytest.raises(UserError, match="two speakers"):
        split_by_speaker(one, dev_fraction=0.1, seed=0)


def test_several_languages_are_split_within_each_and_stay_speaker_disjoint() -> None:
    utts = [
        Utterance(f"{lang}-{s}-{i}", "/a.wav", 1.0, "t", f"{lang}{s}", lang)
        for lang in ("de", "fr", "ja")
        for s in range(10)
        for i in range(4)
    ]
    # One speaker heard in two languages.
    utts += [Utterance(f"both-{lang}", "/a.wav", 1.0, "t", "both", lang) for lang in ("de", "ja")]
    for seed in (0, 1, 2):
        train, dev = split_by_speaker(utts, dev_fraction=0.2, seed=seed)
        assert not speakers(train) & speakers(dev)
        assert len(train) + len(dev) == len(utts)
        for lang in ("de", "fr", "ja"):
            part = [u for u in dev if u.language == lang]
            assert abs(len(part) - 8) <= 2, (seed, lang)  # 20% of 40-41, speakers of 4
    assert split_by_speaker(list(reversed(utts)), dev_fraction=0.2, seed=0) == split_by_speaker(
        utts, dev_fraction=0.2, seed=0
    )


def test_a_language_with_one_speaker_stays_in_train_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    utts = corpus() + [Utterance("x1", "/a.wav", 1.0, "t", "solo", "eu")]
    train, dev = split_by_speaker(utts, dev_fraction=0.1, seed=0)
    assert "x1" in {u.id for u in train} and dev
    assert "language 'eu' has one speaker" in caplog.text


def test_a_one_speaker_language_stays_in_train_even_if_its_speaker_is_heard_elsewhere() -> None:
    # Speaker "x" also speaks German; were German placed first, "x" could go to dev there and
    # take all of Basque with it.
    utts = [Utterance(f"de-x{i}", "/a.wav", 1.0, "t", "x", "de") for i in range(3)]
    utts += [Utterance(f"de-{s}", "/a.wav", 1.0, "t", f"d{s}", "de") for s in range(5)]
    utts += [Utterance(f"eu-x{i}", "/a.wav", 1.0, "t", "x", "eu") for i in range(5)]
    for seed in range(8):
        train, dev = split_by_speaker(utts, dev_fraction=0.25, seed=seed)
        assert {u.id for u in utts if u.language == "eu"} <= {u.id for u in train}, seed
        assert not speakers(train) & speakers(dev)


def test_an_empty_set_cannot_be_split() -> None:
    with pytest.raises(UserError, match="at least two speakers, got 0"):
        split_by_speaker([], dev_fraction=0.1, seed=0)
    assert split_by_speaker([], dev_fraction=0.0, seed=0) == ([], [])
