"""Check that every utterance's audio decodes and its text is not empty.

Validation decodes each file completely with :func:`~speechnas.data.audio.load_audio`, so it
catches what a header read misses (truncated files), and records the decoded duration, which
fills manifests written with ``duration=0.0``.
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
        problems: Sorted by utterance id; one utterance can have two (audio and text).
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
        """``utts`` with each ``duration == 0.0`` replaced by the decoded one, when known."""
        out = []
        for utt in utts:
            measured = self.durations.get(utt.id)
            if utt.duration == 0.0 and measured:
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


def _decoded_duration(path: str) -> float:
    """Decode ``path`` at its own rate (no resampling: only validity and length matter)."""
    try:
        sample_rate = int(sf.info(path).samplerate) or SAMPLE_RATE
    except (sf.LibsndfileError, RuntimeError, OSError):
        sample_rate = SAMPLE_RATE  # load_audio raises the precise AudioError below
    wave = load_audio(path, sample_rate=sample_rate)
    return float(wave.shape[0]) / sample_rate


def _check(target: _Target) -> tuple[list[Problem], float | None]:
    problems: list[Problem] = []
    duration = None
    try:
        duration = _decoded_duration(target.path)
    except AudioError as e:
        problems.append(Problem(target.utt_id, target.path, e.reason, e.detail))
    except OSError as e:  # e.g. permission denied
        problems.append(Problem(target.utt_id, target.path, "unreadable", str(e)))
    if target.text is not None and not target.text.strip():
        problems.append(Problem(target.utt_id, target.path, "empty text"))
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
    progress: ProgressFn | None = None,
) -> ValidationReport:
    """Decode every utterance's audio and check its text.

    Reasons (see :data:`REASONS`): ``missing``, ``empty``, ``not audio``, ``unreadable``
    (e.g. truncated), ``zero duration`` and ``empty text``.

    Args:
        utts: The utterances.
        workers: Decoding threads. Default 2.
        check_text: Report ``empty text``. Default True.
        progress: Called as ``progress(done, total)``; first with ``done=0``.

    Returns:
        The report, with the decoded duration of every good file.

    Raises:
        ValueError: ``workers < 1``.
    """
    targets = [_Target(u.id, u.audio_path, u.text if check_text else None) for u in utts]
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


def _loose_targets(folder: Path, skip: set[str]) -> list[_Target]:
    return [
        _Target(p.relative_to(folder).as_posix(), os.path.abspath(p), None)
        for p in _audio_files(folder)
        if os.path.abspath(p) not in skip
    ]


def validate_source(
    src: str | os.PathLike[str],
    *,
    format: str = "auto",
    language: str | None = None,
    workers: int = 2,
    progress: ProgressFn | None = None,
) -> ValidationReport:
    """Validate whatever ``src`` is: a manifest, a corpus folder, a folder of audio, a file.

    - A manifest or corpus a reader understands: every utterance is decoded and its text
      checked. For a folder, audio files below it that no utterance names are decoded too
      (text not checked), except for Common Voice, whose ``clips/`` also holds clips the tsv
      leaves out on purpose.
    - A folder no reader understands: every file with an audio suffix
      (:data:`~speechnas.data.readers.AUDIO_SUFFIXES`) below it is decoded; no text check.
      Their ids are paths relative to the folder.
    - A single audio file: it is decoded.

    Args:
        src: What to check.
        format: ``"auto"`` or a reader name.
        language: Passed to the reader.
        workers: Decoding threads. Default 2.
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
        return _run([_Target(path.name, os.path.abspath(path), None)], workers, progress)
    targets: list[_Target] = []
    if fmt is not None:
        utts = read_corpus(path, format=fmt, language=language).utterances
        targets = [_Target(u.id, u.audio_path, u.text) for u in utts]
    if path.is_dir() and (fmt is None or fmt in _SCAN_LOOSE_FILES):
        loose = _loose_targets(path, {t.path for t in targets})
        if loose and fmt is not None:
            logger.info("%s: %d audio file(s) not named by any manifest line", path, len(loose))
        targets.extend(loose)
    if fmt is None and not targets:
        raise UserError(f"{path}: no manifest, corpus or audio files found in this folder")
    return _run(targets, workers, progress)
