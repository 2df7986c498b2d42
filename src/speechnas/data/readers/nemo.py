"""NeMo-style JSON-lines manifests (``audio_filepath``, ``duration``, ``text``, ...)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from speechnas.data._problem import Problem
from speechnas.data.manifest import Utterance
from speechnas.data.readers._common import (
    ReadResult,
    absolute,
    check_language,
    finish,
    manifest_in,
    measure_duration,
    open_text,
)
from speechnas.errors import UserError

__all__ = ["read_nemo"]


def read_nemo(src: str | os.PathLike[str], *, language: str = "en") -> ReadResult:
    """Read a NeMo-style manifest: one JSON object per line.

    Keys used: ``audio_filepath`` (relative to the manifest's folder, or absolute),
    ``duration`` (seconds; when absent or null it is measured from the audio header, or 0.0
    if that fails), ``text`` (absent means empty), and optionally ``utt_id`` (default: the
    audio file name without extension), ``speaker`` (default: the utterance id) and
    ``language``. Other keys (``split``, ``raw_text``, ...) are ignored.

    Args:
        src: The manifest (``.jsonl``, ``.json`` or ``.jsonl.gz``) or a folder holding one.
        language: Language of records without a ``language`` key. Default ``"en"``.

    Returns:
        The utterances, sorted by id.

    Raises:
        UserError: no manifest, a malformed line (file and line number named), or duplicate ids.
    """
    path = manifest_in(src)
    if not path.is_file():
        raise UserError(f"NeMo manifest not found: {path}")
    language = check_language(language)
    base = path.parent.absolute()
    utts: list[Utterance] = []
    problems: list[Problem] = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                utts.append(_record(rec, base, language, problems))
            except (ValueError, TypeError, KeyError) as e:
                raise UserError(f"{path}:{lineno}: not a NeMo manifest record: {e}") from e
    return finish(utts, problems, source=path, format="nemo")


def _record(rec: Any, base: Path, language: str, problems: list[Problem]) -> Utterance:
    if not isinstance(rec, dict):
        raise ValueError("expected a JSON object")
    audio = rec.get("audio_filepath")
    if not isinstance(audio, str) or not audio:
        raise ValueError("missing 'audio_filepath'")
    audio_path = absolute(audio, base)
    utt_id = _str_or(rec, "utt_id", Path(audio).stem)
    duration = rec.get("duration")
    if duration is None:
        duration = measure_duration(utt_id, audio_path, problems)
    elif isinstance(duration, bool) or not isinstance(duration, int | float):
        raise ValueError(f"'duration' must be a number, got {duration!r}")
    elif not math.isfinite(duration):
        raise ValueError(f"'duration' must be finite, got {duration!r}")
    return Utterance(
        id=utt_id,
        audio_path=audio_path,
        duration=float(duration),
        text=_str_or(rec, "text", ""),
        speaker=_str_or(rec, "speaker", utt_id),
        language=_str_or(rec, "language", language),
    )


def _str_or(rec: dict[str, Any], key: str, default: str) -> str:
    """``rec[key]`` as a string, or ``default`` when the key is absent, null or empty."""
    value = rec.get(key)
    return default if value is None or value == "" else str(value)
