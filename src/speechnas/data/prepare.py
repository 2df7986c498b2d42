"""Turn any supported corpus into one canonical manifest, safely re-runnable."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from speechnas.data.manifest import Utterance, read_manifest, write_manifest
from speechnas.data.readers import AUDIO_SUFFIXES, read_corpus, resolve_format
from speechnas.data.readers.multilingual import language_folders
from speechnas.data.usable import duration_known
from speechnas.data.validate import validate
from speechnas.errors import UserError

__all__ = ["marker_path", "prepare"]

logger = logging.getLogger(__name__)


def marker_path(out_path: str | os.PathLike[str]) -> Path:
    """The ``.completed`` marker written next to a prepared manifest (``<out>.completed``)."""
    out = Path(out_path)
    return out.with_name(out.name + ".completed")


def _source_files(src: Path, skip: set[str]) -> Iterator[Path]:
    """``src`` itself, or every file below it (hidden ones and ``skip`` left out), sorted."""
    if src.is_file():
        yield src
        return
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if not name.startswith(".") and os.path.abspath(path) not in skip:
                yield path


def _source_digest(src: Path, out: Path) -> str:
    """A SHA-256 over what ``src`` holds: each file's path and content, except audio files,
    which count by size and modification time (hashing hours of audio on every re-run would
    cost more than reading the corpus again).

    The output and its marker are left out: they may sit inside ``src``.
    """
    skip = {os.path.abspath(p) for p in (out, marker_path(out), out.with_name(out.name + ".tmp"))}
    digest = hashlib.sha256()
    for path in _source_files(src, skip):
        digest.update(os.path.relpath(path, src).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(_file_digest(path) + b"\0")
    return digest.hexdigest()


def _file_digest(path: Path) -> bytes:
    try:
        if path.suffix.lower() in AUDIO_SUFFIXES:
            stat = path.stat()
            return f"{stat.st_size}:{stat.st_mtime_ns}".encode()
        content = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                content.update(block)
        return content.digest()
    except OSError:  # a dangling link or an unreadable file: the reader will say what it is
        return b"unreadable"


def _marker_record(
    src: Path, out: Path, format: str, language: str | None, languages: list[str] | None
) -> dict[str, Any]:
    # The requested format, not the detected one: once the output sits inside ``src``,
    # detection on a re-run could pick it up instead of the corpus.
    return {
        "source": os.path.abspath(src),
        "source_digest": _source_digest(src, out),
        "requested_format": format,
        "language": language,
        "languages": languages,
    }


def _previous_record(out: Path) -> dict[str, Any] | None:
    """The record of the marker next to ``out``, when both exist and the marker parses."""
    marker = marker_path(out)
    if not (out.is_file() and marker.is_file()):
        return None
    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous if isinstance(previous, dict) else None


def _set_aside_own_output(source: Path, out: Path, previous: dict[str, Any] | None) -> None:
    """Delete a stale ``out`` that an earlier run wrote from ``source`` into that folder.

    Format detection in ``source`` would otherwise find the old output (a ``*.jsonl.gz``)
    and read it instead of the corpus. Only an output the marker shows was made from this
    source is deleted, never the source itself.
    """
    if previous is None or previous.get("source") != os.path.abspath(source):
        return
    if source.is_dir() and out.resolve().is_relative_to(source.resolve()):
        out.unlink()


def prepare(
    src: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    format: str = "auto",
    language: str | None = None,
    languages: Sequence[str] | None = None,
    workers: int = 2,
) -> list[Utterance]:
    """Read ``src`` and write it as a canonical manifest to ``out_path``.

    Re-runnable: after writing, a marker ``<out_path>.completed`` records the source, a digest
    of its content, the requested and resolved formats and the language. A second call with
    the same arguments on an unchanged source finds the marker and returns the existing
    manifest without reading the corpus again; different arguments, a changed source (any
    file's bytes below it, or an audio file's size or modification time), or a missing output
    rebuild it. An output inside the source folder is not part of the source; when stale, it
    is deleted before the corpus is read again, so that format detection does not find it.

    Utterances whose duration is still unknown after reading (0.0 or not finite in a canonical
    manifest, or a header that could not be read) are decoded once to measure it; files that
    fail keep it and are logged (``speechnas data validate`` lists them).

    Args:
        src: A corpus folder or manifest (see :func:`speechnas.data.readers.detect_format`).
        out_path: The manifest to write (``.jsonl`` or ``.jsonl.gz``).
        format: ``"auto"`` or a reader name. Default ``"auto"``.
        language: Language for records whose corpus does not give one; None means the
            reader's default, ``"en"``.
        languages: Keep only the utterances of these languages (a corpus of several);
            None keeps all.
        workers: Decoding threads for measuring unknown durations. Default 2.

    Returns:
        The utterances written (sorted by id).

    Raises:
        UserError: ``src`` does not exist, the format is unknown or undetectable, the
            corpus is malformed (see the readers), or it has none of a language of
            ``languages`` (named, with those it has).
    """
    source = Path(src)
    out = Path(out_path)
    if not source.exists():
        raise UserError(f"no such file or folder: {source}")
    wanted = sorted(set(languages)) if languages is not None else None
    record = _marker_record(source, out, format, language, wanted)
    previous = _previous_record(out)
    if previous is not None and all(previous.get(k) == v for k, v in record.items()):
        logger.info("%s is up to date (%s); nothing to do", out, marker_path(out))
        return read_manifest(out)
    if format == "auto":
        _set_aside_own_output(source, out, previous)
    fmt = resolve_format(source, format)
    marker_path(out).unlink(missing_ok=True)
    result = read_corpus(source, format=fmt, language=language, languages=wanted)
    utts = result.utterances
    if wanted is not None:
        have = {u.language for u in utts}
        missing = [x for x in wanted if x not in have]
        if fmt == "multilingual":  # only the folders asked for were read: name them all
            have |= set(language_folders(source)[0])
        if missing:
            raise UserError(
                f"{source}: no utterance of language {', '.join(missing)}; it has "
                f"{', '.join(sorted(have)) or 'none'}"
            )
        utts = [u for u in utts if u.language in wanted]
    unknown = [u for u in utts if not duration_known(u.duration)]
    if unknown:
        logger.info("measuring %d unknown duration(s) by decoding", len(unknown))
        report = validate(unknown, workers=workers, check_text=False, check_duration=False)
        utts = report.fill_durations(utts)
        if report.problems:
            logger.warning(
                "%d file(s) could not be decoded and keep their unknown duration; "
                "run `speechnas data validate %s`",
                len(report.problems),
                out,
            )
    write_manifest(utts, out)
    record.update(format=fmt, num_utterances=len(utts))
    marker_path(out).write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("wrote %d utterances (%s) to %s", len(utts), fmt, out)
    return utts
