"""Evaluating a model on a manifest: greedy decoding, WER/CER and real-time factor."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from speechnas.data.audio import SAMPLE_RATE
from speechnas.data.batching import DurationBatchSampler
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance
from speechnas.device import module_device
from speechnas.evaluate.wer import error_rates
from speechnas.hardware._base import Recognizer
from speechnas.text import Tokenizer

__all__ = ["EvalResult", "evaluate_model", "measure_rtf", "transcribe"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """Scores of one model on one test set.

    ``rtf`` is compute seconds per audio second for single-utterance decoding (batch 1) on
    the CPU with ``threads`` threads, measured over ``rtf_utterances`` utterances.
    """

    name: str
    wer: float
    cer: float
    utterances: int
    hours: float
    ref_words: int
    substitutions: int
    deletions: int
    insertions: int
    rtf: float | None
    rtf_utterances: int
    threads: int
    skipped: dict[str, str] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def transcribe(
    model: Recognizer,
    tokenizer: Tokenizer,
    dataset: SpeechDataset,
    *,
    batch_seconds: float = 200.0,
) -> dict[str, str]:
    """Greedy transcripts by utterance id; skipped utterances are absent.

    ``model`` is a :class:`~speechnas.models.SpeechModel` (put in eval mode while it runs, on
    the device it is on) or any other recognizer, such as an exported model in ONNX Runtime.
    """
    was_training = isinstance(model, nn.Module) and model.training
    device = torch.device("cpu")
    if isinstance(model, nn.Module):
        model.eval()
        device = module_device(model)
    sampler = DurationBatchSampler(
        [u.duration for u in dataset.utterances], max_batch_seconds=batch_seconds, shuffle=False
    )
    out: dict[str, str] = {}
    for indices in sampler.batches():
        batch = dataset.batch(indices)
        if batch is None:
            continue
        batch = batch.to(device)
        for utt_id, ids in zip(
            batch.ids, model.transcribe_ids(batch.wave, batch.wave_lens), strict=True
        ):
            out[utt_id] = tokenizer.decode(ids)
    if isinstance(model, nn.Module):
        model.train(was_training)
    return out


@torch.no_grad()
def measure_rtf(
    model: Recognizer, dataset: SpeechDataset, *, max_utterances: int = 50
) -> tuple[float | None, int]:
    """Real-time factor of batch-1 decoding over the first ``max_utterances`` loadable items."""
    if isinstance(model, nn.Module):
        model.eval()
    compute, audio, n = 0.0, 0.0, 0
    for i in range(len(dataset)):
        if n >= max_utterances:
            break
        batch = dataset.batch([i])
        if batch is None:
            continue
        if n == 0:  # warm-up run, not timed
            model.transcribe_ids(batch.wave, batch.wave_lens)
        start = time.perf_counter()
        model.transcribe_ids(batch.wave, batch.wave_lens)
        compute += time.perf_counter() - start
        audio += float(batch.wave_lens[0]) / SAMPLE_RATE
        n += 1
    return (compute / audio if audio > 0 else None), n


def evaluate_model(
    model: Recognizer,
    tokenizer: Tokenizer,
    utterances: Sequence[Utterance],
    *,
    name: str = "test",
    batch_seconds: float = 200.0,
    rtf_utterances: int = 50,
    num_examples: int = 5,
) -> EvalResult:
    """Transcribe ``utterances`` and score them (language: the most common in the set)."""
    dataset = SpeechDataset(utterances, tokenizer)
    hyps = transcribe(model, tokenizer, dataset, batch_seconds=batch_seconds)
    if dataset.skipped:
        # They are left out of WER/CER, so say so: the score covers fewer utterances.
        log.warning(
            "%s: %d of %d utterances could not be scored and are left out: %s",
            name,
            len(dataset.skipped),
            len(dataset),
            ", ".join(sorted(dataset.skipped)[:5]),
        )
    scored = [
        (dataset.texts[i], hyps[u.id]) for i, u in enumerate(dataset.utterances) if u.id in hyps
    ]
    language = Counter(u.language for u in utterances).most_common(1)[0][0] if utterances else "en"
    rates = error_rates([r for r, _ in scored], [h for _, h in scored], language)
    rtf, rtf_n = (
        measure_rtf(model, dataset, max_utterances=rtf_utterances) if rtf_utterances else (None, 0)
    )
    hours = sum(u.duration for u in dataset.utterances if u.id in hyps) / 3600.0
    examples = [{"ref": r, "hyp": h} for r, h in scored[:num_examples]]
    return EvalResult(
        name=name,
        wer=rates.wer,
        cer=rates.cer,
        utterances=rates.utterances,
        hours=hours,
        ref_words=rates.ref_words,
        substitutions=rates.substitutions,
        deletions=rates.deletions,
        insertions=rates.insertions,
        rtf=rtf,
        rtf_utterances=rtf_n,
        threads=torch.get_num_threads(),
        skipped=dict(dataset.skipped),
        examples=examples,
    )
