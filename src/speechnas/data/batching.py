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
        groups: a group (a language) per utterance; with ``balance`` < 1 each epoch draws
            its utterances so that group ``g`` of ``n_g`` utterances makes a share
            ``n_g ** balance / sum_h n_h ** balance`` of the epoch (temperature sampling, as
            in multilingual training): 1 keeps the data as it is, 0 gives every group the
            same share. The epoch keeps its size (a group under its share is repeated, one
            over it is sampled without repeats), drawn from ``seed`` and ``epoch``.
        balance: that exponent, in ``[0, 1]``. Balanced epochs differ a little in their
            number of batches (a training schedule is sized by the first); an utterance
            drawn twice may share a batch with its copy.
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
        groups: Sequence[str] | None = None,
        balance: float = 1.0,
    ) -> None:
        if not 0.0 <= balance <= 1.0:
            raise ValueError(f"balance={balance!r} must be in [0, 1]")
        if groups is not None and len(groups) != len(durations):
            raise ValueError(f"groups: {len(groups)} for {len(durations)} utterances")
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
        self.balance = balance
        self._groups: list[np.ndarray] = []
        if groups is not None and balance < 1.0:
            names = sorted(set(groups))
            if len(names) > 1:
                self._groups = [
                    np.array([i for i, g in enumerate(groups) if g == name]) for name in names
                ]

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """The utterances of ``epoch`` (each index as often as it is drawn): all of them once
        unless groups are balanced."""
        n = len(self.durations)
        if not self._groups:
            return np.arange(n)
        sizes = np.array([len(g) for g in self._groups], dtype=np.float64)
        weights = sizes**self.balance
        shares = np.floor(n * weights / weights.sum()).astype(int)
        # The rounding remainder goes to the groups with the largest fractional parts.
        rest = n * weights / weights.sum() - shares
        shares[np.argsort(-rest, kind="stable")[: n - int(shares.sum())]] += 1
        rng = np.random.default_rng([self.seed, epoch, 1])
        drawn = []
        for group, share in zip(self._groups, shares.tolist(), strict=True):
            whole, part = divmod(share, len(group))
            drawn += [group] * whole + [rng.choice(group, size=part, replace=False)]
        return np.sort(np.concatenate(drawn))

    def batches(self, epoch: int = 0) -> list[list[int]]:
        """The list of batches (lists of indices) for ``epoch``."""
        if len(self.durations) == 0:
            return []
        indices = self.epoch_indices(epoch)
        n = len(indices)
        rng = np.random.default_rng([self.seed, epoch])
        # Sort by duration rounded to 0.1 s, with random tie-breaks inside a bucket.
        jitter = rng.random(n) if self.shuffle else np.arange(n) / n
        order = indices[np.lexsort((jitter, np.round(self.durations[indices], 1)))]
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
