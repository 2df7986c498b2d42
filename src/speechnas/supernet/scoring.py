"""Scoring many subnets on one dev set: what they share is computed once.

Every subnet of a :class:`~speechnas.supernet.space.SupernetSpace` shares the base's
front-end (no weights) and its stem's convolutions (a fixed channel count, so one set of
shared weights, uncut), so a dev set's features and stem activations are the same for all of
them. :class:`SubnetScorer` reads the audio and computes both once, in the same batches as
:func:`~speechnas.evaluate.runner.transcribe`, and then runs only each subnet's stem
projection, layers and greedy decoding on its inherited weights (on CPU the stem's
convolutions are about half of a small subnet's compute). The cache holds the stem's
activations: about 230 MB per hour of dev audio for 32 channels over 80 mel bins. Its WER
and CER equal those of :func:`~speechnas.evaluate.runner.evaluate_model` on the extracted
subnet (``tests/supernet/test_scoring.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from speechnas.arch import ArchSpec
from speechnas.data.batching import DurationBatchSampler
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance
from speechnas.evaluate.wer import error_rates_by_language
from speechnas.models import SpeechModel
from speechnas.supernet.space import SupernetSpace
from speechnas.supernet.supernet import Supernet, recalibrate
from speechnas.text import Tokenizer

__all__ = ["ByDepth", "SubnetScorer"]


@dataclass(frozen=True)
class _StemBatch:
    convolved: Tensor
    lens: Tensor
    references: tuple[str, ...]
    languages: tuple[str, ...]


class SubnetScorer:
    """Dev WER and CER of subnets on inherited weights (greedy decoding).

    Args:
        net: a trained supernet.
        tokenizer: its tokenizer.
        utterances: the dev set (unloadable ones are left out, as in evaluation).
        calibration: ``(wave, wave_lens)`` training batches that re-estimate a batch-norm
            subnet's statistics before it is scored
            (:func:`~speechnas.supernet.supernet.recalibrate`).
        batch_seconds: audio per decoding batch.

    It runs where ``net`` is (``net.to("cuda")`` scores on a GPU), holding its cache there.

    Raises:
        ValueError: no utterance of ``utterances`` could be loaded.
    """

    def __init__(
        self,
        net: Supernet,
        tokenizer: Tokenizer,
        utterances: Sequence[Utterance],
        *,
        calibration: Sequence[tuple[Tensor, Tensor]] = (),
        batch_seconds: float = 200.0,
    ) -> None:
        self.net = net
        self.tokenizer = tokenizer
        self.calibration = list(calibration)
        dataset = SpeechDataset(list(utterances), tokenizer)
        shared = net.extract(net.space.smallest())
        shared_device = net.device
        sampler = DurationBatchSampler(
            [u.duration for u in dataset.utterances],
            max_batch_seconds=batch_seconds,
            shuffle=False,
        )
        self._batches: list[_StemBatch] = []
        by_id = {u.id: dataset.texts[i] for i, u in enumerate(dataset.utterances)}
        language = {u.id: u.language for u in dataset.utterances}
        with torch.no_grad():
            for indices in sampler.batches():
                batch = dataset.batch(indices)
                if batch is None:
                    continue
                batch = batch.to(shared_device)
                feats, feat_lens = shared.frontend(batch.wave, batch.wave_lens)
                convolved, lens = shared.encoder.stem.convolve(feats, feat_lens)
                refs = tuple(by_id[utt_id] for utt_id in batch.ids)
                languages = tuple(language[utt_id] for utt_id in batch.ids)
                self._batches.append(_StemBatch(convolved, lens, refs, languages))
        if not self._batches:
            raise ValueError("no dev utterance could be loaded to score subnets on")
        self.skipped = dict(dataset.skipped)

    @property
    def utterances(self) -> int:
        """Utterances scored per subnet."""
        return sum(len(b.references) for b in self._batches)

    def __call__(self, spec: ArchSpec) -> dict[str, float]:
        """``{"wer": ..., "cer": ...}`` of subnet ``spec``.

        Raises:
            ValueError: ``spec`` is not a subnet of the supernet's space.
        """
        model = self.model(spec)
        refs: list[str] = []
        hyps: list[str] = []
        languages: list[str] = []
        with torch.no_grad():
            for b in self._batches:
                enc, enc_lens = model.encoder.from_convolved(b.convolved, b.lens)
                for ids in model.head.greedy_decode(enc, enc_lens):
                    hyps.append(self.tokenizer.decode(ids))
                refs.extend(b.references)
                languages.extend(b.languages)
        rates, _ = error_rates_by_language(refs, hyps, languages)
        return {"wer": rates.wer, "cer": rates.cer}

    @property
    def space(self) -> SupernetSpace:
        """The subnets this scorer scores."""
        return self.net.space

    def route(self, spec: ArchSpec) -> tuple[SubnetScorer, ArchSpec]:
        """The scorer of subnet ``spec`` (this one) and its spec there (itself).

        Raises:
            ValueError: ``spec`` is not a subnet of the supernet's space.
        """
        if not self.space.contains(spec):
            raise ValueError(f"{spec.summary()} is not a subnet of this supernet's space")
        return self, spec

    def model(self, spec: ArchSpec) -> SpeechModel:
        """Subnet ``spec`` as a standalone model on its inherited weights, its batch-norm
        statistics re-estimated on the calibration batches (what :meth:`__call__` scores).

        Raises:
            ValueError: ``spec`` is not a subnet of the supernet's space.
        """
        model = self.net.extract(spec)
        recalibrate(model, self.calibration)
        return model


class ByDepth:
    """Scores subnets of ``space`` with one :class:`SubnetScorer` per depth, each over a
    supernet of :meth:`SupernetSpace.at_depth` (few-shot weight sharing split by depth).

    A single supernet ranks subnets of one depth much better than subnets of different depths:
    its shared weights favour the deeper ones (BENCHMARKS.md, "Weight sharing against longer
    stand-alone training"). Separate supernets per depth share nothing across depths.

    Raises:
        ValueError: a depth of ``space`` has no scorer, or a scorer's supernet is not of that
            depth.
    """

    def __init__(self, space: SupernetSpace, scorers: dict[int, SubnetScorer]) -> None:
        for depth in range(space.min_layers, space.max_layers + 1):
            scorer = scorers.get(depth)
            if scorer is None or scorer.net.space != space.at_depth(depth):
                raise ValueError(f"no supernet of depth {depth} of this space")
        self.space = space
        self.scorers = dict(scorers)

    @property
    def utterances(self) -> int:
        return min(s.utterances for s in self.scorers.values())

    def __call__(self, spec: ArchSpec) -> dict[str, float]:
        """``{"wer": ..., "cer": ...}`` of subnet ``spec`` on its depth's supernet.

        Raises:
            ValueError: ``spec`` is not a subnet of ``space``.
        """
        scorer, subnet = self.route(spec)
        return scorer(subnet)

    def route(self, spec: ArchSpec) -> tuple[SubnetScorer, ArchSpec]:
        """The scorer of ``spec``'s depth and ``spec`` as a subnet of its supernet.

        Raises:
            ValueError: ``spec`` is not a subnet of ``space``.
        """
        if not self.space.contains(spec):
            raise ValueError(f"{spec.summary()} is not a subnet of this space")
        layers = self.space.choices(spec)
        scorer = self.scorers[len(layers)]
        return scorer, scorer.net.space.spec(layers)
