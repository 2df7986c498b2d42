"""Evaluating a model on a manifest: greedy decoding, WER/CER and real-time factor.

Long audio is scored in bounded memory: an utterance longer than ``window_seconds``
(:data:`WINDOW_SECONDS` by default) is cut into the fewest equal windows no longer than that,
each decoded on its own, and their transcripts are joined with a space. A word that a window
boundary cuts may then count as an error; a window sees at most what training did.

A set with nothing to score (no utterance, or every one skipped) raises
:class:`~speechnas.evaluate.wer.NothingToScore` instead of reporting an error rate of 0.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from speechnas.data.audio import SAMPLE_RATE
from speechnas.data.batching import DurationBatchSampler
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance, read_manifest
from speechnas.data.usable import MAX_UTTERANCE_SECONDS, transcript_problem
from speechnas.device import module_device
from speechnas.evaluate.wer import NothingToScore, error_rates_by_language
from speechnas.recognizer import Recognizer
from speechnas.text import Tokenizer

__all__ = [
    "WINDOW_SECONDS",
    "EvalResult",
    "evaluate_model",
    "measure_rtf",
    "recognize",
    "scorable_set",
    "transcribe",
]

#: The longest audio decoded in one piece, in seconds: the training length limit, so every
#: utterance a model can have trained on is scored whole.
WINDOW_SECONDS = MAX_UTTERANCE_SECONDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """Scores of one model on one test set.

    ``rtf`` is compute seconds per audio second for single-utterance decoding (batch 1) on
    the CPU with ``threads`` threads, measured over ``rtf_utterances`` utterances.
    ``languages`` holds each language's ``wer``, ``cer`` and ``utterances`` (every utterance
    scored by its own language's rules; ``wer`` and ``cer`` pool them).
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
    languages: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _windows(wave: Tensor, length: int, window: int) -> list[Tensor]:
    """``wave[:length]`` in the fewest near-equal pieces of at most ``window`` samples.

    Equal pieces rather than full windows and a remainder: a remainder of a few samples would
    be too short for the model's subsampling.
    """
    return list(torch.tensor_split(wave[:length], -(-length // window)))


def recognize(
    model: Recognizer,
    wave: Tensor,
    wave_lens: Tensor,
    *,
    window: int,
    windows_per_batch: int = 1,
) -> list[list[list[int]]]:
    """Greedy token ids per utterance and per window, in bounded memory.

    Args:
        model: the recognizer.
        wave: ``(B, S)`` waveforms, zero-padded.
        wave_lens: ``(B,)`` valid samples.
        window: the most samples decoded in one piece. Utterances no longer than this are
            decoded whole, together (one window each); longer ones in windows
            (:func:`_windows`), ``windows_per_batch`` at a time.
        windows_per_batch: windows of one long utterance decoded as one batch.

    Returns:
        For each utterance, the token ids of each of its windows, in order.
    """
    lens = [int(n) for n in wave_lens]
    if max(lens, default=0) <= window:
        return [[ids] for ids in model.transcribe_ids(wave, wave_lens)]
    out: list[list[list[int]]] = [[] for _ in lens]
    whole = [i for i, n in enumerate(lens) if n <= window]
    if whole:
        longest = max(lens[i] for i in whole)
        decoded = model.transcribe_ids(wave[whole, :longest], wave_lens[whole])
        for i, ids in zip(whole, decoded, strict=True):
            out[i] = [ids]
    for i, n in enumerate(lens):
        if n <= window:
            continue
        pieces = _windows(wave[i], n, window)
        for start in range(0, len(pieces), windows_per_batch):
            group = pieces[start : start + windows_per_batch]
            group_lens = torch.tensor([len(p) for p in group], dtype=torch.long)
            padded = torch.nn.utils.rnn.pad_sequence(group, batch_first=True)
            out[i].extend(model.transcribe_ids(padded, group_lens.to(wave_lens.device)))
    return out


def _window_samples(window_seconds: float) -> int:
    if not window_seconds > 0:
        raise ValueError(f"window_seconds={window_seconds!r} must be positive")
    return max(1, int(window_seconds * SAMPLE_RATE))


def scorable_set(path: str, where: str) -> list[Utterance]:
    """The utterances of the manifest at ``path``, checked for something to score where that
    is cheap (no audio is decoded: a set whose every file is unreadable fails when scored).

    Raises:
        NothingToScore: ``where`` has no utterance, or none with a usable transcript.
    """
    utts = read_manifest(path)
    if not utts:
        raise NothingToScore(where, "the set has no utterances")
    if all(transcript_problem(u.text, u.language) for u in utts):
        why = f"none of its {len(utts)} transcript(s) has a word left after normalisation"
        raise NothingToScore(where, why)
    return utts


@torch.no_grad()
def transcribe(
    model: Recognizer,
    tokenizer: Tokenizer,
    dataset: SpeechDataset,
    *,
    batch_seconds: float = 200.0,
    window_seconds: float = WINDOW_SECONDS,
) -> dict[str, str]:
    """Greedy transcripts by utterance id; skipped utterances are absent.

    ``model`` is a :class:`~speechnas.models.SpeechModel` (put in eval mode while it runs, on
    the device it is on) or any other recognizer, such as an exported model in ONNX Runtime.
    Utterances longer than ``window_seconds`` are decoded in windows (see the module
    docstring).
    """
    window = _window_samples(window_seconds)
    was_training = isinstance(model, nn.Module) and model.training
    device = torch.device("cpu")
    if isinstance(model, nn.Module):
        model.eval()
        device = module_device(model)
    sampler = DurationBatchSampler(
        [u.duration for u in dataset.utterances], max_batch_seconds=batch_seconds, shuffle=False
    )
    per_batch = max(1, int(batch_seconds // window_seconds))
    out: dict[str, str] = {}
    for indices in sampler.batches():
        batch = dataset.batch(indices)
        if batch is None:
            continue
        batch = batch.to(device)
        decoded = recognize(
            model, batch.wave, batch.wave_lens, window=window, windows_per_batch=per_batch
        )
        for utt_id, pieces in zip(batch.ids, decoded, strict=True):
            texts = (tokenizer.decode(ids) for ids in pieces)
            out[utt_id] = " ".join(t for t in texts if t)
    if isinstance(model, nn.Module):
        model.train(was_training)
    return out


@torch.no_grad()
def measure_rtf(
    model: Recognizer,
    dataset: SpeechDataset,
    *,
    max_utterances: int = 50,
    window_seconds: float = WINDOW_SECONDS,
) -> tuple[float | None, int]:
    """Real-time factor of batch-1 decoding over the first ``max_utterances`` loadable items
    (a long one decoded window by window, as :func:`transcribe` does)."""
    window = _window_samples(window_seconds)
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
            recognize(model, batch.wave, batch.wave_lens, window=window)
        start = time.perf_counter()
        recognize(model, batch.wave, batch.wave_lens, window=window)
        compute += time.perf_counter() - start
        audio += float(batch.wave_lens[0]) / SAMPLE_RATE
        n += 1
    return (compute / audio if audio > 0 else None), n


def _nothing_scored(dataset: SpeechDataset) -> str:
    """Why no utterance of ``dataset`` was scored, with the skip reasons counted."""
    if not len(dataset):
        return "the set has no utterances"
    counts = sorted(Counter(dataset.skipped.values()).items(), key=lambda kv: (-kv[1], kv[0]))
    listed = ", ".join(f"{reason}: {n}" for reason, n in counts)
    return f"all {len(dataset)} utterance(s) were skipped ({listed})"


def evaluate_model(
    model: Recognizer,
    tokenizer: Tokenizer,
    utterances: Sequence[Utterance],
    *,
    name: str = "test",
    batch_seconds: float = 200.0,
    window_seconds: float = WINDOW_SECONDS,
    rtf_utterances: int = 50,
    num_examples: int = 5,
) -> EvalResult:
    """Transcribe ``utterances`` and score them, each by the rules of its own language
    (:func:`~speechnas.evaluate.wer.error_rates_by_language`).

    Unusable utterances (:mod:`speechnas.data.usable`) are left out and listed in
    ``skipped``; audio longer than ``window_seconds`` is decoded in windows.

    Raises:
        NothingToScore: no utterance could be scored (the set is empty, or every utterance
            was skipped); the message names the set by ``name`` and counts the reasons.
    """
    dataset = SpeechDataset(utterances, tokenizer)
    hyps = transcribe(
        model, tokenizer, dataset, batch_seconds=batch_seconds, window_seconds=window_seconds
    )
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
        (dataset.texts[i], hyps[u.id], u.language)
        for i, u in enumerate(dataset.utterances)
        if u.id in hyps
    ]
    if not scored:
        raise NothingToScore(name, _nothing_scored(dataset))
    rates, per_language = error_rates_by_language(*(list(x) for x in zip(*scored, strict=True)))
    rtf, rtf_n = (
        measure_rtf(model, dataset, max_utterances=rtf_utterances, window_seconds=window_seconds)
        if rtf_utterances
        else (None, 0)
    )
    hours = sum(u.duration for u in dataset.utterances if u.id in hyps) / 3600.0
    examples = [{"ref": r, "hyp": h} for r, h, _ in scored[:num_examples]]
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
        languages={
            language: {"wer": x.wer, "cer": x.cer, "utterances": x.utterances}
            for language, x in per_language.items()
        },
    )
