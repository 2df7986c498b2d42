"""Check that every utterance is usable, as training and evaluation define it.

Validation decodes each file completely with :func:`~speechnas.data.audio.load_audio`, so it
catches what a header read misses (truncated files), and records the decoded duration, which
fills manifests written with ``duration=0.0``. Transcripts, declared durations and lengths are
checked with :mod:`speechnas.data.usable`, the definition training and evaluation use.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import soundfile as sf

from speechnas.data._problem import REASONS, Problem
from speechnas.data.audio import SAMPLE_RATE, load_audio
from speechnas.data.manifest import Utterance
from speechnas.data.readers import AUDIO_SUFFIXES, guess_format, read_corpus, resolve_format
from speechnas.data.usable import (
    duration_known,
    duration_problem,
    length_problem,
    transcript_problem,
)
from speechnas.errors import AudioError, UserError

__all__ = [
    "REASONS",
    "Problem",
    "ProgressFn",
    "ValidationReport",
    "validate",
    "validate_source",
]

logger = logging.getLogger(__name__)

#: Called as ``progress(done, total)`` after each file is checked.
ProgressFn = Callable[[int, int], None]

# Folders of these formats may hold audio that no manifest line names; it is checked too.
# Common Voice is left out: its clips/ holds every clip of the release (invalidated ones too),
# while a tsv names only a subset.
_SCAN_LOOSE_FILES = frozenset({"nemo", "manifest", "kaldi", "librispeech"})


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`.

    Attributes:
        num_checked: Number of utterances (or loose files) checked.
        problems: Sorted by utterance id; one utterance can have several (audio, declared
            duration, length, text).
        durations: ``utt_id -> seconds`` decoded, for every file that decoded.
    """

    num_checked: int
    problems: tuple[Problem, ...] = ()
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no problem."""
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Problems per reason, in :data:`REASONS` order, reasons with none left out."""
        counter = Counter(p.reason for p in self.problems)
        return {reason: counter[reason] for reason in REASONS if counter[reason]}

    def fill_durations(self, utts: Iterable[Utterance]) -> list[Utterance]:
        """``utts`` with each unknown duration (0.0 or not finite) replaced by the decoded
        one, when known."""
        out = []
        for utt in utts:
            measured = self.durations.get(utt.id)
            if not duration_known(utt.duration) and measured:
                utt = replace(utt, duration=measured)
            out.append(utt)
        return out

    def merge(self, other: ValidationReport) -> ValidationReport:
        """Both reports as one."""
        return ValidationReport(
            self.num_checked + other.num_checked,
            tuple(sorted(self.problems + other.problems)),
            {**self.durations, **other.durations},
        )


class _Target(NamedTuple):
    utt_id: str
    path: str
    text: str | None  # None: a loose audio file, no transcript to check
    language: str = "en"
    duration: float | None = None  # the declared one; None: nothing to compare
    max_seconds: float | None = None
    utterance: Utterance | None = None  # a segment of its file: decode that part only


def _utterance_target(
    utt: Utterance, *, check_text: bool, check_duration: bool, max_seconds: float | None
) -> _Target:
    return _Target(
        utt.id,
        utt.audio_path,
        utt.text if check_text else None,
        utt.language,
        utt.duration if check_duration else None,
        max_seconds,
        utt if utt.is_segment else None,
    )


def _decoded_duration(path: str, segment: Utterance | None = None) -> float:
    """Decode ``path`` (the part ``segment`` is of it, if given) at its own rate (no
    resampling: only validity and length matter)."""
    try:
        sample_rate = int(sf.info(path).samplerate) or SAMPLE_RATE
    except (sf.LibsndfileError, RuntimeError, OSError):
        sample_rate = SAMPLE_RATE  # load_audio raises the precise AudioError below
    wave = (
        load_audio(path, sample_rate=sample_rate) if segment is None else segment.load(sample_rate)
    )
    return float(wave.shape[0]) / sample_rate


def _length_checks(target: _Target, decoded: float) -> list[Problem]:
    """``bad duration`` and ``too long`` problems of audio that decoded to ``decoded`` s."""
    details = {
        "bad duration": None
        if target.duration is None
        else duration_problem(target.duration, decoded),
        "too long": length_problem(decoded, target.max_seconds),
    }
    return [
        Problem(target.utt_id, target.path, reason, detail)
        for reason, detail in details.items()
        if detail is not None
    ]


def _check(target: _Target) -> tuple[list[Problem], float | None]:
    problems: list[Problem] = []
    duration = None
    try:
        duration = _decoded_duration(target.path, target.utterance)
    except AudioError as e:
        problems.append(Problem(target.utt_id, target.path, e.reason, e.detail))
    except OSError as e:  # e.g. permission denied
        problems.append(Problem(target.utt_id, target.path, "unreadable", str(e)))
    if duration is not None:
        problems.extend(_length_checks(target, duration))
    if target.text is not None:
        reason = transcript_problem(target.text, target.language)
        if reason is not None:
            problems.append(Problem(target.utt_id, target.path, reason))
    return problems, duration


def _run(
    targets: Sequence[_Target], workers: int, progress: ProgressFn | None
) -> ValidationReport:
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    problems: list[Problem] = []
    durations: dict[str, float] = {}
    if progress is not None:
        progress(0, len(targets))
    # Threads suffice: libsndfile decoding runs outside the GIL (cffi releases it).
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_check, t): t for t in targets}
        for done, future in enumerate(as_completed(futures), start=1):
            found, duration = future.result()
            problems.extend(found)
            if duration is not None:
                durations[futures[future].utt_id] = duration
            if progress is not None:
                progress(done, len(targets))
    return ValidationReport(len(targets), tuple(sorted(problems)), durations)


def validate(
    utts: Iterable[Utterance],
    *,
    workers: int = 2,
    check_text: bool = True,
    check_duration: bool = True,
    max_seconds: float | None = None,
    progress: ProgressFn | None = None,
) -> ValidationReport:
    """Decode every utterance's audio and check its text, declared duration and length.

    Reasons (see :data:`REASONS`): ``missing``, ``empty``, ``not audio``, ``unreadable``
    (e.g. truncated), ``zero duration``, ``bad duration`` (declared but not finite, or
    disagreeing with the decoded audio), ``too long`` (over ``max_seconds``) and
    ``empty text`` (no word left after normalisation).

    Args:
        utts: The utterances.
        workers: Decoding threads. Default 2.
        check_text: Report ``empty text``. Default True.
        check_duration: Report ``bad duration``. Default True.
        max_seconds: Report ``too long`` above this many decoded seconds (``None``: no
            limit, the default).
        progress: Called as ``progress(done, total)``; first with ``done=0``.

    Returns:
        The report, with the decoded duration of every good file.

    Raises:
        ValueError: ``workers < 1``.
    """
    targets = [
        _utterance_target(
            u, check_text=check_text, check_duration=check_duration, max_seconds=max_seconds
        )
        for u in utts
    ]
    return _run(targets, workers, progress)


def _audio_files(folder: Path) -> list[Path]:
    """Audio files below ``folder`` by suffix (hidden files and folders skipped), sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES:
                found.append(Path(root) / name)
    return sorted(found)


def _loose_targets(folder: Path, skip: set[str], limit: float | None) -> list[_Target]:
    return [
        _Target(p.relative_to(folder).as_posix(), os.path.abspath(p), None, max_seconds=limit)
        for p in _audio_files(folder)
        if os.path.abspath(p) not in skip
    ]


def validate_source(
    src: str | os.PathLike[str],
    *,
    format: str = "auto",
    language: str | None = None,
    workers: int = 2,
    max_seconds: float | None = None,
    progress: ProgressFn | None = None,
) -> ValidationReport:
    """Validate whatever ``src`` is: a manifest, a corpus folder, a folder of audio, a file.

    - A manifest or corpus a reader understands: every utterance is decoded and its text and
      declared duration checked. For a folder, audio files below it that no utterance names
      are decoded too (text not checked), except for Common Voice, whose ``clips/`` also
      holds clips the tsv leaves out on purpose.
    - A folder no reader understands: every file with an audio suffix
      (:data:`~speechnas.data.readers.AUDIO_SUFFIXES`) below it is decoded; no text check.
      Their ids are paths relative to the folder.
    - A single audio file: it is decoded.

    Args:
        src: What to check.
        format: ``"auto"`` or a reader name.
        language: Passed to the reader.
        workers: Decoding threads. Default 2.
        max_seconds: See :func:`validate`.
        progress: See :func:`validate`.

    Returns:
        The report.

    Raises:
        UserError: ``src`` does not exist, ``format`` is unknown, a manifest is malformed, or
            a folder holds neither a corpus nor audio files.
    """
    path = Path(src)
    fmt = resolve_format(path, format) if format != "auto" else guess_format(path)
    if fmt is None and path.is_file():
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            raise UserError(f"{path}: not a manifest, tsv or audio file")
        target = _Target(path.name, os.path.abspath(path), None, max_seconds=max_seconds)
        return _run([target], workers, progress)
    targets: list[_Target] = []
    if fmt is not None:
        utts = read_corpus(path, format=fmt, language=language).utterances
        targets = [
            _utterance_target(u, check_text=True, check_duration=True, max_seconds=max_seconds)
            for u in utts
        ]
    if path.is_dir() and (fmt is None or fmt in _SCAN_LOOSE_FILES):
        loose = _loose_targets(path, {t.path for t in targets}, max_seconds)
        if loose and fmt is not None:
            logger.info("%s: %d audio file(s) not named by any manifest line", path, len(loose))
        targets.extend(loose)
    if fmt is None and not targets:
        raise UserError(f"{path}: no manifest, corpus or audio files found in this folder")
    return _run(targets, workers, progress)
