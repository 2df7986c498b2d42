from __future__ import annotations

import pytest

from speechnas.data.batching import DurationBatchSampler
from speechnas.train.schedule import warmup_cosine, warmup_length


def test_batches_cover_every_index_once_and_respect_bounds() -> None:
    durations = [0.5 + (i * 7 % 13) / 2 for i in range(200)]
    sampler = DurationBatchSampler(durations, max_batch_seconds=20.0, max_batch_size=8, seed=3)
    batches = sampler.batches(epoch=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(200))
    for b in batches:
        assert len(b) <= 8
        assert len(b) == 1 or max(durations[i] for i in b) * len(b) <= 20.0


def test_batches_are_seeded_and_vary_by_epoch() -> None:
    durations = [1.0 + (i % 5) for i in range(100)]
    a = DurationBatchSampler(durations, max_batch_seconds=10, seed=1)
    b = DurationBatchSampler(durations, max_batch_seconds=10, seed=1)
    assert a.batches(0) == b.batches(0)
    assert a.batches(0) != a.batches(1)


def test_batches_group_similar_durations() -> None:
    durations = [1.0] * 50 + [10.0] * 50
    batches = DurationBatchSampler(durations, max_batch_seconds=40, seed=0).batches(0)
    for b in batches:
        assert len({durations[i] for i in b}) == 1


def test_short_first_epochs_go_from_short_to_long_then_shuffle() -> None:
    durations = [1.0 + (i * 7 % 23) / 4 for i in range(200)]
    sampler = DurationBatchSampler(durations, max_batch_seconds=20, seed=2, short_first_epochs=1)
    longest = [max(durations[i] for i in b) for b in sampler.batches(0)]
    assert longest == sorted(longest)
    later = [max(durations[i] for i in b) for b in sampler.batches(1)]
    assert later != sorted(later)
    # Only the order differs from a shuffled sampler's: the same batches are packed.
    shuffled = DurationBatchSampler(durations, max_batch_seconds=20, seed=2).batches(0)
    assert sorted(map(sorted, sampler.batches(0))) == sorted(map(sorted, shuffled))
    assert sampler.batches(1) == DurationBatchSampler(
        durations, max_batch_seconds=20, seed=2
    ).batches(1)


def test_warmup_length_is_capped_by_a_share_of_the_run() -> None:
    assert warmup_length(200, total=1000) == 200
    assert warmup_length(200, total=100) == 100
    assert warmup_length(200, total=100, max_share=0.1) == 10
    assert warmup_length(5, total=100, max_share=0.1) == 5


def test_invalid_sampler_arguments() -> None:
    with pytest.raises(ValueError, match="max_batch_seconds"):
        DurationBatchSampler([1.0], max_batch_seconds=0)


def test_warmup_cosine() -> None:
    assert warmup_cosine(0, peak=1.0, warmup=10, total=100) == pytest.approx(0.1)
    assert warmup_cosine(9, peak=1.0, warmup=10, total=100) == pytest.approx(1.0)
    assert warmup_cosine(10, peak=1.0, warmup=10, total=100) == pytest.approx(1.0)
    assert warmup_cosine(100, peak=1.0, warmup=10, total=100) == pytest.approx(0.05)
    assert warmup_cosine(500, peak=1.0, warmup=10, total=100) == pytest.approx(0.05)
    mid = warmup_cosine(55, peak=1.0, warmup=10, total=100)
    assert mid == pytest.approx(0.05 + 0.95 * 0.5)


def test_language_balance_draws_each_language_by_its_share() -> None:
    from collections import Counter

    groups = ["de"] * 90 + ["eu"] * 10
    durations = [1.0 + (i % 7) / 10 for i in range(100)]

    def drawn(balance: float, epoch: int = 0) -> Counter[str]:
        sampler = DurationBatchSampler(
            durations, max_batch_seconds=8.0, seed=3, groups=groups, balance=balance
        )
        return Counter(groups[i] for b in sampler.batches(epoch) for i in b)

    assert drawn(1.0) == {"de": 90, "eu": 10}  # the data as it is
    assert drawn(0.0) == {"de": 50, "eu": 50}  # every language alike, the epoch's size kept
    half = drawn(0.5)  # 90 ** 0.5 : 10 ** 0.5 = 3 : 1
    assert half == {"de": 75, "eu": 25}
    # Without balancing, the batches are those of a sampler that knows no languages.
    plain = DurationBatchSampler(durations, max_batch_seconds=8.0, seed=3)
    same = DurationBatchSampler(durations, max_batch_seconds=8.0, seed=3, groups=groups)
    assert plain.batches(2) == same.batches(2)
    # Seeded by epoch: the same epoch gives the same draw, another epoch another one.
    balanced = DurationBatchSampler(
        durations, max_batch_seconds=8.0, seed=3, groups=groups, balance=0.0
    )
    assert balanced.batches(1) == balanced.batches(1)
    assert balanced.batches(1) != balanced.batches(2)
    with pytest.raises(ValueError, match="balance"):
        DurationBatchSampler(durations, max_batch_seconds=8.0, balance=1.5)
