"""Duration-bucketed batching: utterances of similar length share a batch, so little compute
is spent on padding. The sampler sees only durations; loading and collating live elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["DurationBatchSampler"]


class DurationBatchSampler:
    """Groups indices into batches whose padded size stays under ``max_batch_seconds``.

    Utterances are sorted by duration (ties broken by a per-epoch random key, so batches vary
    between epochs), packed greedily while ``batch_size * longest <= max_batch_seconds`` and
    ``batch_size <= max_batch_size``, then the batch order is shuffled. The result depends
    only on ``seed`` and ``epoch``.

    Args:
        durations: seconds per utterance.
        max_batch_seconds: bound on padded audio seconds per batch.
        max_batch_size: bound on utterances per batch.
        shuffle: shuffle bucket jitter and batch order per epoch (training).
        seed: base seed.
        short_first_epochs: epochs (from 0) whose batches are not shuffled but ordered from
            short to long.
    """

    def __init__(
        self,
        durations: Sequence[float],
        *,
        max_batch_seconds: float,
        max_batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        short_first_epochs: int = 0,
    ) -> None:
        if max_batch_seconds <= 0:
            raise ValueError(f"max_batch_seconds={max_batch_seconds!r} must be > 0")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size={max_batch_size!r} must be >= 1")
        self.durations = np.asarray(durations, dtype=np.float64)
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.short_first_epochs = short_first_epochs

    def batches(self, epoch: int = 0) -> list[list[int]]:
        """The list of batches (lists of indices) for ``epoch``."""
        n = len(self.durations)
        if n == 0:
            return []
        rng = np.random.default_rng([self.seed, epoch])
        # Sort by duration rounded to 0.1 s, with random tie-breaks inside a bucket.
        jitter = rng.random(n) if self.shuffle else np.arange(n) / n
        order = np.lexsort((jitter, np.round(self.durations, 1)))
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0.0
        for idx in order.tolist():
            d = max(float(self.durations[idx]), 1e-3)
            grown = max(longest, d) * (len(current) + 1)
            if current and (grown > self.max_batch_seconds or len(current) >= self.max_batch_size):
                batches.append(current)
                current, longest = [], 0.0
            current.append(idx)
            longest = max(longest, d)
        if current:
            batches.append(current)
        if self.shuffle and epoch >= self.short_first_epochs:
            perm = rng.permutation(len(batches))
            batches = [batches[i] for i in perm.tolist()]
        return batches
