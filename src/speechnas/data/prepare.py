"""Turn any supported corpus into one canonical manifest, safely re-runnable."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from speechnas.data.manifest import Utterance, read_manifest, write_manifest
from speechnas.data.readers import read_corpus, resolve_format
from speechnas.data.validate import validate
from speechnas.errors import UserError

__all__ = ["marker_path", "prepare"]

logger = logging.getLogger(__name__)


def marker_path(out_path: str | os.PathLike[str]) -> Path:
    """The ``.completed`` marker written next to a prepared manifest (``<out>.completed``)."""
    out = Path(out_path)
    return out.with_name(out.name + ".completed")


def _marker_record(src: Path, format: str, language: str | None) -> dict[str, Any]:
    # The requested format, not the detected one: once the output sits inside ``src``,
    # detection on a re-run could pick it up instead of the corpus.
    return {"source": os.path.abspath(src), "requested_format": format, "language": language}


def _already_done(out: Path, record: dict[str, Any]) -> bool:
    marker = marker_path(out)
    if not (out.is_file() and marker.is_file()):
        return False
    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(previous, dict) and all(previous.get(k) == v for k, v in record.items())


def prepare(
    src: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    format: str = "auto",
    language: str | None = None,
    workers: int = 2,
) -> list[Utterance]:
    """Read ``src`` and write it as a canonical manifest to ``out_path``.

    Re-runnable: after writing, a marker ``<out_path>.completed`` records the source, the
    requested and resolved formats and the language. A second call with the same arguments
    finds the marker and returns the existing manifest without reading the corpus again;
    different arguments (or a missing output) rebuild it.

    Utterances whose duration is still 0.0 after reading (unknown in a canonical manifest, or
    a header that could not be read) are decoded once to measure it; files that fail stay at
    0.0 and are logged (``speechnas data validate`` lists them).

    Args:
        src: A corpus folder or manifest (see :func:`speechnas.data.readers.detect_format`).
        out_path: The manifest to write (``.jsonl`` or ``.jsonl.gz``).
        format: ``"auto"`` or a reader name. Default ``"auto"``.
        language: Language for records whose corpus does not give one; None means the
            reader's default, ``"en"``.
        workers: Decoding threads for measuring unknown durations. Default 2.

    Returns:
        The utterances written (sorted by id).

    Raises:
        UserError: ``src`` does not exist, the format is unknown or undetectable, or the
            corpus is malformed (see the readers).
    """
    source = Path(src)
    out = Path(out_path)
    if not source.exists():
        raise UserError(f"no such file or folder: {source}")
    record = _marker_record(source, format, language)
    if _already_done(out, record):
        logger.info("%s is up to date (%s); nothing to do", out, marker_path(out))
        return read_manifest(out)
    fmt = resolve_format(source, format)
    marker_path(out).unlink(missing_ok=True)
    result = read_corpus(source, format=fmt, language=language)
    utts = result.utterances
    unknown = [u for u in utts if u.duration == 0.0]
    if unknown:
        logger.info("measuring %d unknown duration(s) by decoding", len(unknown))
        report = validate(unknown, workers=workers, check_text=False)
        utts = report.fill_durations(utts)
        if report.problems:
            logger.warning(
                "%d file(s) could not be decoded and keep duration 0.0; "
                "run `speechnas data validate %s`",
                len(report.problems),
                out,
            )
    write_manifest(utts, out)
    record.update(format=fmt, num_utterances=len(utts))
    marker_path(out).write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("wrote %d utterances (%s) to %s", len(utts), fmt, out)
    return utts
