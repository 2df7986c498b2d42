"""``synthesize_corpus``: a seeded, cached, speaker-disjoint synthetic English corpus.

Layout of ``out_dir``::

    audio/<id>.flac        16 kHz mono PCM_16, one per utterance
    audio/.fingerprint.json  what the audio was made with (seed, version, voices)
    train.jsonl dev.jsonl test.jsonl all.jsonl   canonical manifests, records sorted by id
    .completed             parameters + summary, written last

Determinism: utterance ``i`` is a pure function of ``(seed, i, installed voices)`` (see
:mod:`speechnas.synth._render`), and the corpus is the shortest prefix ``0..N-1`` whose total
duration reaches ``hours``. Workers render ahead in parallel, but results are consumed in index
order, so the worker count never changes the output: the same seed gives byte-identical
manifests and audio (on the same engine versions).

Caching: a run whose ``.completed`` records the same parameters returns at once; otherwise
audio files already present (from an interrupted run, or a smaller ``hours``) are reused, and
files from a different seed or voice set are deleted first.

Example:
    >>> result = synthesize_corpus("/tmp/synth", hours=0.01, seed=0, progress=False)
    >>> sorted(result.manifests)
    ['all', 'dev', 'test', 'train']
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from speechnas.data.audio import SAMPLE_RATE
from speechnas.data.manifest import Utterance, write_manifest
from speechnas.errors import UserError
from speechnas.synth._render import UtterancePlan, plan_utterance, render_utterance
from speechnas.synth.engines import ENGINES, TTSEngine, TTSError, get_engine
from speechnas.synth.grammar import load_grammar
from speechnas.synth.voices import (
    DEFAULT_VOICES,
    SPLITS,
    VoicePreset,
    assign_splits,
    usable_voices,
)

__all__ = ["SYNTH_VERSION", "SplitStats", "SynthResult", "synthesize_corpus"]

logger = logging.getLogger(__name__)

#: Bump whenever the output for a given seed changes (grammar, voices, augmentation).
SYNTH_VERSION = "2"
INSTALL_HINT = (
    "no offline TTS engine found; install at least one, e.g. on Debian/Ubuntu: "
    "sudo apt-get install espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts"
)
_MARKER = ".completed"
_FINGERPRINT = ".fingerprint.json"
#: Seconds assumed per utterance before any is measured (for render-ahead only).
_GUESS_SECONDS = 3.0


@dataclass(frozen=True)
class SplitStats:
    """Size of one split."""

    utterances: int
    hours: float
    speakers: tuple[str, ...]


@dataclass(frozen=True)
class SynthResult:
    """What :func:`synthesize_corpus` produced.

    Attributes:
        out_dir: The corpus directory (absolute).
        manifests: ``"train"``, ``"dev"``, ``"test"``, ``"all"`` -> manifest path.
        splits: The same keys -> :class:`SplitStats`.
        engines: Engines used.
        skipped_engines: Requested engines that are not installed.
        skipped_voices: ``"engine:voice"`` of voices that are not installed or failed.
        failed_utterances: Utterances dropped because synthesis failed (normally 0).
        cached: ``True`` when nothing was done because ``.completed`` matched.
    """

    out_dir: Path
    manifests: Mapping[str, Path]
    splits: Mapping[str, SplitStats]
    engines: tuple[str, ...]
    skipped_engines: tuple[str, ...] = ()
    skipped_voices: tuple[str, ...] = ()
    failed_utterances: int = 0
    cached: bool = field(default=False, compare=False)

    @property
    def num_utterances(self) -> int:
        return self.splits["all"].utterances

    @property
    def hours(self) -> float:
        return self.splits["all"].hours

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifests": {k: str(v) for k, v in self.manifests.items()},
            "splits": {k: asdict(v) for k, v in self.splits.items()},
            "engines": list(self.engines),
            "skipped_engines": list(self.skipped_engines),
            "skipped_voices": list(self.skipped_voices),
            "failed_utterances": self.failed_utterances,
        }

    @classmethod
    def from_dict(cls, out_dir: Path, data: Mapping[str, Any], *, cached: bool) -> SynthResult:
        splits = {
            k: SplitStats(v["utterances"], v["hours"], tuple(v["speakers"]))
            for k, v in data["splits"].items()
        }
        return cls(
            out_dir=out_dir,
            manifests={k: Path(v) for k, v in data["manifests"].items()},
            splits=splits,
            engines=tuple(data["engines"]),
            skipped_engines=tuple(data["skipped_engines"]),
            skipped_voices=tuple(data["skipped_voices"]),
            failed_utterances=int(data["failed_utterances"]),
            cached=cached,
        )


def _resolve_engines(names: Sequence[str] | None) -> tuple[list[TTSEngine], list[str]]:
    wanted = list(ENGINES) if names is None else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in ENGINES]
    if unknown:
        raise UserError(f"unknown TTS engine(s) {unknown}; choose from {', '.join(ENGINES)}")
    if not wanted:
        raise UserError(f"no TTS engine requested; choose from {', '.join(ENGINES)}")
    engines = [get_engine(n) for n in wanted]
    skipped = [e.name for e in engines if not e.available()]
    for name in skipped:
        logger.warning("skipping TTS engine %s: %s not on PATH", name, ENGINES[name].programs)
    available = [e for e in engines if e.available()]
    if not available:
        raise UserError(f"{INSTALL_HINT} (requested: {', '.join(wanted)})")
    return available, skipped


def _load_cached(out_dir: Path, params: Mapping[str, Any]) -> SynthResult | None:
    marker = out_dir / _MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        if data.get("params") != dict(params):
            return None
        result = SynthResult.from_dict(out_dir, data["result"], cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(p.is_file() for p in result.manifests.values()):
        return None
    return result


def _prepare_audio_dir(audio_dir: Path, fingerprint: Mapping[str, Any]) -> None:
    """Create ``audio_dir``; delete our audio if it was made with other settings."""
    audio_dir.mkdir(parents=True, exist_ok=True)
    path = audio_dir / _FINGERPRINT
    text = json.dumps(fingerprint, sort_keys=True, indent=1)
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if old != text:
        stale = sorted(audio_dir.glob("synth-*.flac"))
        if stale:
            logger.warning("removing %d audio files made with other settings", len(stale))
        for f in stale:
            f.unlink()
        path.write_text(text, encoding="utf-8")
    for f in audio_dir.glob("*.tmp"):
        f.unlink()


def _render_or_reuse(
    plan: UtterancePlan, engine: TTSEngine, audio_dir: Path, tmp_dir: Path
) -> int | None:
    """Frames of ``plan``'s audio file, rendering it unless present; ``None`` on TTS failure."""
    path = audio_dir / f"{plan.utt_id}.flac"
    if path.is_file():
        try:
            return int(sf.info(str(path)).frames)
        except (sf.LibsndfileError, RuntimeError):
            logger.warning("re-rendering unreadable %s", path)
    try:
        return render_utterance(plan, engine, path, tmp_dir)
    except TTSError as e:
        logger.warning("utterance %s dropped: %s", plan.utt_id, e)
        return None


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:>7.0f}/{task.total:.0f} s audio"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _render_all(
    seed: int,
    presets: Sequence[VoicePreset],
    engines: Mapping[str, TTSEngine],
    audio_dir: Path,
    target_s: float,
    workers: int,
    progress: bool,
) -> tuple[list[tuple[UtterancePlan, int]], int]:
    """Render utterances ``0, 1, ...`` until their total duration reaches ``target_s``.

    Up to ``2 * workers`` utterances render ahead of the one being consumed, but durations are
    summed in index order, so where the corpus stops does not depend on timing.
    """
    grammar = load_grammar()
    done: list[tuple[UtterancePlan, int]] = []
    failed = 0
    total_s = 0.0
    next_index = 0
    pending: deque[tuple[UtterancePlan, Future[int | None]]] = deque()
    with (
        tempfile.TemporaryDirectory(prefix="speechnas-synth-") as tmp,
        ThreadPoolExecutor(max_workers=workers) as pool,
        _progress_bar(progress) as bar,
    ):
        task = bar.add_task("synthesising", total=target_s)
        try:
            while total_s < target_s:
                mean_s = total_s / len(done) if done else _GUESS_SECONDS
                # Render ahead only as far as the remaining duration is likely to need.
                while len(pending) < 2 * workers and len(pending) * mean_s < target_s - total_s:
                    plan = plan_utterance(seed, next_index, presets, grammar)
                    engine = engines[plan.preset.engine]
                    fut = pool.submit(_render_or_reuse, plan, engine, audio_dir, Path(tmp))
                    pending.append((plan, fut))
                    next_index += 1
                plan, fut = pending.popleft()
                frames = fut.result()
                if frames is None:
                    failed += 1
                    if failed >= 20 and failed > len(done):
                        raise UserError(f"TTS synthesis keeps failing ({failed} utterances)")
                    continue
                done.append((plan, frames))
                total_s += frames / SAMPLE_RATE
                bar.update(task, completed=min(total_s, target_s))
        finally:
            for _, fut in pending:
                fut.cancel()
    return done, failed


def _write_manifests(
    out_dir: Path,
    audio_dir: Path,
    done: Sequence[tuple[UtterancePlan, int]],
    split_of: Mapping[str, str],
) -> tuple[dict[str, Path], dict[str, SplitStats]]:
    utts = sorted(
        (
            Utterance(
                id=plan.utt_id,
                audio_path=str(audio_dir / f"{plan.utt_id}.flac"),
                duration=round(frames / SAMPLE_RATE, 3),
                text=plan.text,
                speaker=plan.preset.speaker,
                language="en",
            )
            for plan, frames in done
        ),
        key=lambda u: u.id,
    )
    by_split = {s: [u for u in utts if split_of[u.speaker] == s] for s in SPLITS}
    by_split["all"] = utts
    manifests: dict[str, Path] = {}
    stats: dict[str, SplitStats] = {}
    for name, items in by_split.items():
        manifests[name] = write_manifest(items, out_dir / f"{name}.jsonl")
        stats[name] = SplitStats(
            utterances=len(items),
            hours=round(sum(u.duration for u in items) / 3600.0, 4),
            speakers=tuple(sorted({u.speaker for u in items})),
        )
    return manifests, stats


def synthesize_corpus(
    out_dir: str | os.PathLike[str],
    *,
    hours: float = 1.0,
    seed: int = 0,
    engines: Sequence[str] | None = None,
    workers: int = 2,
    progress: bool = True,
) -> SynthResult:
    """Synthesise about ``hours`` of multi-voice English speech into ``out_dir``.

    Args:
        out_dir: Corpus directory (created). See the module docstring for its layout.
        hours: Target total duration; the corpus is the shortest prefix reaching it. Default 1.
        seed: Seed for sentences, voices, augmentation and the held-out voices. Default 0.
        engines: Engine names (``"espeak"``, ``"flite"``, ``"festival"``); ``None`` means all.
            Requested engines that are not installed are skipped with a warning.
        workers: Parallel synthesis threads (each runs an engine subprocess). Does not change
            the output. Default 2.
        progress: Show a progress bar on stderr.

    Returns:
        Manifest paths and per-split statistics.

    Raises:
        UserError: unknown engine name, no engine installed (the message says how to install
            them), or fewer than three working voices.
        ValueError: ``hours <= 0`` or ``workers < 1``.
    """
    if not hours > 0 or not math.isfinite(hours):
        raise ValueError(f"hours must be a positive number, got {hours}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    available, skipped_engines = _resolve_engines(engines)
    out = Path(out_dir).resolve()
    params = {
        "version": SYNTH_VERSION,
        "seed": int(seed),
        "hours": float(hours),
        "engines": [e.name for e in available],
    }
    cached = _load_cached(out, params)
    if cached is not None:
        logger.info("synthetic corpus already complete in %s", out)
        return cached
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).unlink(missing_ok=True)

    started = time.perf_counter()
    presets, skipped_voices = usable_voices(DEFAULT_VOICES, available, workers=workers)
    split_of = assign_splits(presets, seed)
    audio_dir = out / "audio"
    _prepare_audio_dir(
        audio_dir,
        {"version": SYNTH_VERSION, "seed": int(seed), "voices": [asdict(p) for p in presets]},
    )
    done, failed = _render_all(
        int(seed),
        presets,
        {e.name: e for e in available},
        audio_dir,
        hours * 3600.0,
        workers,
        progress,
    )
    manifests, stats = _write_manifests(out, audio_dir, done, split_of)
    keep = {f"{plan.utt_id}.flac" for plan, _ in done}
    for f in audio_dir.glob("synth-*.flac"):  # rendered ahead past the target, or older runs
        if f.name not in keep:
            f.unlink()

    result = SynthResult(
        out_dir=out,
        manifests=manifests,
        splits=stats,
        engines=tuple(e.name for e in available),
        skipped_engines=tuple(skipped_engines),
        skipped_voices=tuple(skipped_voices),
        failed_utterances=failed,
    )
    marker = {"params": params, "result": result.to_dict()}
    tmp = out / (_MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / _MARKER)
    logger.info(
        "synthesised %d utterances (%.3f h) in %.0f s into %s",
        result.num_utterances,
        result.hours,
        time.perf_counter() - started,
        out,
    )
    return result
