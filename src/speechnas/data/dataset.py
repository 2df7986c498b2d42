"""Loading utterances for training and evaluation: decoded audio, token targets, batches.

An utterance that is not usable (:mod:`speechnas.data.usable`: its file fails to decode, its
normalised transcript is empty, or its audio is over the length limit) is skipped and recorded
in :attr:`SpeechDataset.skipped` with the reason; it never stops a run. Decoded audio is cached
in memory as 16-bit integers (a 3-hour corpus takes about 350 MB), so later epochs decode
nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from speechnas.data.audio import SAMPLE_RATE, audio_duration
from speechnas.data.batching import DurationBatchSampler
from speechnas.data.manifest import Utterance
from speechnas.data.usable import MAX_UTTERANCE_SECONDS, length_problem, transcript_problem
from speechnas.errors import AudioError, UserError
from speechnas.features import speed_perturb
from speechnas.text import Tokenizer, normalize

__all__ = ["Batch", "BatchStream", "SpeechDataset", "endless_batches"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """A padded batch. Legend: B utterances, S samples, U tokens.

    Attributes:
        wave: (B, S) float32 waveforms, zero-padded.
        wave_lens: (B,) int64 valid samples.
        targets: (B, U) int64 token ids, zero-padded.
        target_lens: (B,) int64 valid tokens.
        ids: utterance ids.
        texts: normalised reference transcripts.
        seconds: audio seconds in the batch (before padding).
    """

    wave: Tensor
    wave_lens: Tensor
    targets: Tensor
    target_lens: Tensor
    ids: list[str]
    texts: list[str]
    seconds: float

    def to(self, device: torch.device | str) -> Batch:
        """This batch with its tensors on ``device``."""
        return dataclasses.replace(
            self,
            wave=self.wave.to(device),
            wave_lens=self.wave_lens.to(device),
            targets=self.targets.to(device),
            target_lens=self.target_lens.to(device),
        )


class SpeechDataset:
    """Utterances plus a tokenizer; returns padded :class:`Batch` es by index lists.

    Args:
        utterances: the manifest records.
        tokenizer: maps normalised text to token ids (0 is the blank, never emitted).
        speed_factors: speed perturbation factors drawn uniformly per utterance and epoch
            (``(1.0,)`` for none).
        seed: base seed of the perturbation draws.
        cache: keep decoded audio in memory.
        max_seconds: skip audio longer than this (reason ``too long``), judged by the file's
            header before decoding and by the decoded samples after; ``None`` (the default):
            no limit.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        tokenizer: Tokenizer,
        *,
        speed_factors: Sequence[float] = (1.0,),
        seed: int = 0,
        cache: bool = True,
        max_seconds: float | None = None,
    ) -> None:
        if not speed_factors or any(f <= 0 for f in speed_factors):
            raise ValueError(f"speed_factors={tuple(speed_factors)!r} must be positive")
        if max_seconds is not None and not max_seconds > 0:
            raise ValueError(f"max_seconds={max_seconds!r} must be positive")
        self.utterances = list(utterances)
        self.tokenizer = tokenizer
        self.speed_factors = tuple(speed_factors)
        self.seed = seed
        self.cache = cache
        self.max_seconds = max_seconds
        self.texts = [normalize(u.text, u.language) for u in self.utterances]
        self.skipped: dict[str, str] = {}
        self._audio: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.utterances)

    def _skip(self, index: int, reason: str, detail: str = "") -> None:
        utt = self.utterances[index]
        if utt.id not in self.skipped:
            self.skipped[utt.id] = reason
            shown = f"{reason} ({detail})" if detail else reason
            log.warning("skipping %s (%s): %s", utt.id, utt.audio_path, shown)

    def _too_long(self, index: int, seconds: float) -> bool:
        detail = length_problem(seconds, self.max_seconds)
        if detail is not None:
            self._skip(index, "too long", detail)
        return detail is not None

    def _decode(self, index: int) -> np.ndarray | None:
        """The utterance's waveform, or ``None`` (recorded as skipped) if it is not usable."""
        utt = self.utterances[index]
        try:
            # The header first: an over-long file is refused before it is decoded.
            if self.max_seconds is not None:
                length = utt.duration if utt.offset is not None else audio_duration(utt.audio_path)
                if self._too_long(index, length):
                    return None
            wave = utt.load(SAMPLE_RATE)
        except AudioError as e:
            self._skip(index, e.reason, e.detail)
            return None
        # A header can understate the length (e.g. an MP3 without one), so check the samples.
        return None if self._too_long(index, wave.shape[0] / SAMPLE_RATE) else wave

    def _wave(self, index: int) -> np.ndarray | None:
        # Audio is held as 16-bit PCM whether or not it is cached, so a sample is the same in
        # every epoch (and in a resumed run, whose first epoch decodes afresh).
        pcm = self._audio.get(index)
        if pcm is None:
            wave = self._decode(index)
            if wave is None:
                return None
            pcm = np.round(np.clip(wave, -1.0, 1.0) * 32767.0).astype(np.int16)
            if self.cache:
                self._audio[index] = pcm
        return pcm.astype(np.float32) / 32767.0

    def load(self, index: int, epoch: int = 0) -> tuple[np.ndarray, list[int]] | None:
        """Waveform and token ids for one utterance, or ``None`` if it is skipped."""
        utt = self.utterances[index]
        if utt.id in self.skipped:
            return None
        problem = transcript_problem(utt.text, utt.language)
        if problem is not None:
            self._skip(index, problem)
            return None
        tokens = self.tokenizer.encode(self.texts[index])
        if not tokens:  # defensive: tokenizers give every non-empty text a token
            self._skip(index, "empty text", "the tokenizer gave no token")
            return None
        wave = self._wave(index)
        if wave is None:
            return None
        if len(self.speed_factors) > 1:
            rng = np.random.default_rng([self.seed, epoch, index])
            factor = float(self.speed_factors[int(rng.integers(len(self.speed_factors)))])
            if factor != 1.0:
                wave = speed_perturb(wave, factor)
        return wave, tokens

    def batch(self, indices: Sequence[int], epoch: int = 0) -> Batch | None:
        """Collate ``indices`` into a padded batch; ``None`` if all of them are skipped."""
        items = [(i, self.load(i, epoch)) for i in indices]
        kept = [(i, it) for i, it in items if it is not None]
        if not kept:
            return None
        waves = [torch.from_numpy(np.ascontiguousarray(w)) for _, (w, _) in kept]
        toks = [torch.tensor(t, dtype=torch.long) for _, (_, t) in kept]
        wave_lens = torch.tensor([len(w) for w in waves], dtype=torch.long)
        target_lens = torch.tensor([len(t) for t in toks], dtype=torch.long)
        return Batch(
            wave=torch.nn.utils.rnn.pad_sequence(waves, batch_first=True),
            wave_lens=wave_lens,
            targets=torch.nn.utils.rnn.pad_sequence(toks, batch_first=True),
            target_lens=target_lens,
            ids=[self.utterances[i].id for i, _ in kept],
            texts=[self.texts[i] for i, _ in kept],
            seconds=float(wave_lens.sum()) / SAMPLE_RATE,
        )


class BatchStream(Iterator[Batch]):
    """``dataset``'s batches in ``sampler``'s order, epoch after epoch, without end (for loops
    whose budget is steps or minutes, not epochs), from a saved :attr:`position` on.

    Batches are a function of the epoch and the index list (the sampler's order and the
    dataset's perturbations are seeded by epoch), so a stream resumed at a position yields
    what the uninterrupted one would have.

    Raises:
        UserError: an epoch yields no batch (every utterance of ``source`` is skipped).
    """

    def __init__(
        self,
        dataset: SpeechDataset,
        sampler: DurationBatchSampler,
        source: str,
        position: tuple[int, int] = (0, 0),
    ) -> None:
        self.dataset = dataset
        self.sampler = sampler
        self.source = source
        self.epoch, self.consumed = position
        self._lists: list[list[int]] | None = None
        self._yielded = self.consumed  # a resumed epoch has yielded before (or is new)

    @property
    def position(self) -> tuple[int, int]:
        """``(epoch, index lists consumed in it)``: where a resumed stream starts."""
        return self.epoch, self.consumed

    def __next__(self) -> Batch:
        while True:
            if self._lists is None:
                self._lists = [list(b) for b in self.sampler.batches(self.epoch)]
            if self.consumed >= len(self._lists):
                if not self._yielded:
                    raise UserError(
                        f"{self.source}: every utterance was skipped (unreadable or too long)"
                    )
                self.epoch, self.consumed, self._yielded, self._lists = self.epoch + 1, 0, 0, None
                continue
            indices = self._lists[self.consumed]
            self.consumed += 1
            batch = self.dataset.batch(indices, self.epoch)
            if batch is not None:
                self._yielded += 1
                return batch


def endless_batches(
    utterances: Sequence[Utterance],
    tokenizer: Tokenizer,
    *,
    source: str,
    batch_seconds: float,
    max_batch_size: int,
    speed_factors: Sequence[float] = (1.0,),
    seed: int = 0,
    position: tuple[int, int] = (0, 0),
    max_seconds: float | None = MAX_UTTERANCE_SECONDS,
) -> BatchStream:
    """A :class:`BatchStream` of ``utterances`` (read from ``source``) in seeded duration
    batches, with ``speed_factors`` perturbation, from ``position`` on; audio over
    ``max_seconds`` is skipped (``too long``), as in :func:`speechnas.train.train`."""
    dataset = SpeechDataset(
        utterances, tokenizer, speed_factors=speed_factors, seed=seed, max_seconds=max_seconds
    )
    sampler = DurationBatchSampler(
        [u.duration for u in utterances],
        max_batch_seconds=batch_seconds,
        max_batch_size=max_batch_size,
        seed=seed,
    )
    return BatchStream(dataset, sampler, source, position)
