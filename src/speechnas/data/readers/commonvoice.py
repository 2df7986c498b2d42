"""Mozilla Common Voice releases: ``validated.tsv`` (or another tsv) and a ``clips/`` folder."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from speechnas.data._problem import Problem
from speechnas.data.manifest import Utterance
from speechnas.data.readers._common import (
    ReadResult,
    check_language,
    finish,
    measure_duration,
)
from speechnas.errors import UserError

__all__ = ["DEFAULT_TSV", "read_commonvoice"]

DEFAULT_TSV = "validated.tsv"
_DURATIONS_TSV = "clip_durations.tsv"


def read_commonvoice(src: str | os.PathLike[str], *, language: str = "en") -> ReadResult:
    """Read a Common Voice language folder.

    Columns used: ``path`` (clip file name inside ``clips/``), ``sentence`` (text),
    ``client_id`` (speaker; default the utterance id) and ``locale`` (language, when the
    column exists and is filled). The utterance id is the clip name without extension.
    Durations come from ``clip_durations.tsv`` (milliseconds) when the release has it, else
    from the audio headers.

    Args:
        src: The language folder (``validated.tsv`` is read) or a tsv file in it
            (``train.tsv``, ``dev.tsv``, ...); ``clips/`` sits next to the tsv.
        language: Language of rows without a ``locale``. Default ``"en"``.

    Returns:
        The utterances, sorted by id.

    Raises:
        UserError: the tsv or ``clips/`` is missing, a required column is absent, or ids repeat.
    """
    tsv = Path(src)
    if tsv.is_dir():
        tsv = tsv / DEFAULT_TSV
    if not tsv.is_file():
        raise UserError(f"Common Voice tsv not found: {tsv}")
    clips = tsv.parent.absolute() / "clips"
    if not clips.is_dir():
        raise UserError(f"{tsv}: no clips/ folder next to it ({clips})")
    language = check_language(language)
    known = _clip_durations(tsv.parent / _DURATIONS_TSV)
    utts: list[Utterance] = []
    problems: list[Problem] = []
    with open(tsv, encoding="utf-8", newline="") as f:
        # Sentences hold bare quotes; Common Voice tsvs are not quoted.
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"path", "sentence"} - set(reader.fieldnames or ())
        if missing:
            raise UserError(
                f"{tsv}: missing column(s) {sorted(missing)}; is it a Common Voice tsv?"
            )
        for lineno, row in enumerate(reader, start=2):
            clip = (row.get("path") or "").strip()
            if not clip:
                raise UserError(f"{tsv}:{lineno}: empty 'path'")
            utt_id = Path(clip).stem
            audio_path = str(clips / clip)
            duration = known.get(clip)
            if duration is None:
                duration = measure_duration(utt_id, audio_path, problems)
            utts.append(
                Utterance(
                    id=utt_id,
                    audio_path=audio_path,
                    duration=duration,
                    text=(row.get("sentence") or "").strip(),
                    speaker=(row.get("client_id") or "").strip() or utt_id,
                    language=(row.get("locale") or "").strip() or language,
                )
            )
    return finish(utts, problems, source=tsv, format="commonvoice")


def _clip_durations(path: Path) -> dict[str, float]:
    """``clip -> seconds`` from ``clip_durations.tsv`` (``clip``, ``duration[ms]``), if present."""
    if not path.is_file():
        return {}
    out: dict[str, float] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)  # header
        for lineno, row in enumerate(reader, start=2):
            if len(row) < 2:
                continue
            try:
                out[row[0]] = float(row[1]) / 1000.0
            except ValueError as e:
                raise UserError(f"{path}:{lineno}: duration is not a number: {row[1]!r}") from e
    return out
