"""Pieces every corpus reader shares: the result type, id checks and header measurement."""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from speechnas.data._problem import Problem
from speechnas.data.audio import audio_duration
from speechnas.data.manifest import Utterance
from speechnas.errors import AudioError, UserError

__all__ = [
    "AUDIO_SUFFIXES",
    "ReadResult",
    "Reader",
    "absolute",
    "find_manifest",
    "check_language",
    "finish",
    "is_language_tag",
    "measure_duration",
    "open_text",
]

logger = logging.getLogger(__name__)

#: File name endings treated as audio when a folder is scanned without a manifest.
AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".opus", ".mp3", ".sph", ".aif", ".aiff", ".au", ".w64", ".caf"}
)


@dataclass(frozen=True)
class ReadResult:
    """What a reader returns.

    Attributes:
        utterances: Sorted by id; ids are unique.
        problems: Audio files the reader had to open (to measure a missing duration) and could
            not; their utterances are kept with ``duration=0.0``. This is not validation: a
            reader opens only the headers it needs, so an empty list proves nothing.
        format: The reader's name in :data:`speechnas.data.readers.READERS`.
    """

    utterances: list[Utterance]
    problems: list[Problem] = field(default_factory=list)
    format: str = ""


class Reader(Protocol):
    """The call signature every corpus reader has."""

    def __call__(self, src: str | os.PathLike[str], *, language: str = "en") -> ReadResult: ...


def open_text(path: Path) -> TextIO:
    """Open a UTF-8 text file for reading, gunzipping ``*.gz`` transparently."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115


def absolute(path: str, base: Path) -> str:
    """``path`` made absolute against ``base`` without resolving symlinks."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = base / p
    return os.path.abspath(p)


def check_language(language: str) -> str:
    """Return ``language`` if it is a non-empty code without spaces, else raise UserError."""
    if not language or any(c.isspace() for c in language):
        raise UserError(f"language must be a non-empty code such as 'en', got {language!r}")
    return language


# A BCP-47-like language tag: ``de``, ``cnh``, ``fy-NL``, ``rm-sursilv``, ``zh_CN``.
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*", re.IGNORECASE)
# Names of a corpus's parts that a language tag's pattern would take for a language.
_PART_NAMES = frozenset(
    {"all", "dev", "eval", "val", "test", "wav", "raw", "out", "tmp", "old", "new"}
)


def is_language_tag(name: str) -> bool:
    """Whether a folder name reads as a language tag (``de``, ``fy-NL``), not a part of a
    corpus (``train``, ``dev``, ``test``, LibriSpeech's ``dev-clean``).

    Example:
        >>> is_language_tag("rm-sursilv"), is_language_tag("zh-CN"), is_language_tag("dev-clean")
        (True, True, False)
    """
    primary = re.split(r"[-_]", name, maxsplit=1)[0].lower()
    return _LANGUAGE_TAG.fullmatch(name) is not None and primary not in _PART_NAMES


def measure_duration(utt_id: str, path: str, problems: list[Problem]) -> float:
    """Duration from the audio header; on failure append a :class:`Problem` and return 0.0."""
    try:
        return audio_duration(path)
    except AudioError as e:
        logger.warning("cannot measure %s: %s", path, e)
        problems.append(Problem(utt_id, path, e.reason, e.detail))
        return 0.0


def finish(
    utterances: Iterable[Utterance], problems: list[Problem], *, source: Path, format: str
) -> ReadResult:
    """Check ids are unique, sort by id and wrap up.

    Raises:
        UserError: some ids occur more than once; the message names them and ``source``.
    """
    utts = list(utterances)
    counts = Counter(u.id for u in utts)
    dups = sorted(i for i, n in counts.items() if n > 1)
    if dups:
        shown = ", ".join(dups[:10]) + (f" (and {len(dups) - 10} more)" if len(dups) > 10 else "")
        raise UserError(f"{source}: duplicate utterance ids: {shown}")
    utts.sort(key=lambda u: u.id)
    if problems:
        logger.warning(
            "%s: %d audio file(s) could not be measured; run `speechnas data validate`",
            source,
            len(problems),
        )
    return ReadResult(utts, sorted(problems), format)


_MANIFEST_NAMES = ("manifest.jsonl", "manifest.jsonl.gz", "manifest.json")


def find_manifest(folder: Path) -> Path | None:
    """The JSON-lines manifest inside ``folder``, if there is exactly one obvious candidate.

    ``manifest.jsonl``, ``manifest.jsonl.gz`` or ``manifest.json`` win; otherwise a single
    ``*.jsonl``/``*.jsonl.gz`` file is taken.

    Raises:
        UserError: several ``*.jsonl`` files and none named ``manifest.*``.
    """
    for name in _MANIFEST_NAMES:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz"))
    )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise UserError(f"{folder}: several manifests ({names}); name the file to use")
    return candidates[0] if candidates else None


def manifest_in(src: str | os.PathLike[str]) -> Path:
    """``src`` itself, or the manifest :func:`find_manifest` picks when ``src`` is a folder.

    Raises:
        UserError: ``src`` is a folder with no manifest in it.
    """
    path = Path(src)
    if path.is_dir():
        found = find_manifest(path)
        if found is None:
            raise UserError(f"{path}: no manifest.jsonl in this folder")
        path = found
    return path
