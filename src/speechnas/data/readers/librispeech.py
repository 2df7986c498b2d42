"""LibriSpeech layout: ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` and ``<id>.flac``."""

from __future__ import annotations

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

__all__ = ["read_librispeech"]


def read_librispeech(src: str | os.PathLike[str], *, language: str = "en") -> ReadResult:
    """Read a LibriSpeech-style folder.

    Every ``*.trans.txt`` below ``src`` is read (so ``src`` may be one subset such as
    ``train-clean-100/`` or the ``LibriSpeech/`` folder holding several). Each line is
    ``<id> <TRANSCRIPT>``; the audio is ``<id>.flac`` in the same folder and the speaker is
    the name of the folder two levels up (``<speaker>/<chapter>/``). Durations are measured
    from the FLAC headers; a missing or broken file is recorded with duration 0.0.

    Args:
        src: The corpus folder.
        language: Language of every utterance. Default ``"en"``.

    Returns:
        The utterances, sorted by id.

    Raises:
        UserError: no ``*.trans.txt`` below ``src``, or duplicate ids.
    """
    root = Path(src)
    if not root.is_dir():
        raise UserError(f"LibriSpeech folder not found: {root}")
    language = check_language(language)
    transcripts = sorted(root.rglob("*.trans.txt"))
    if not transcripts:
        raise UserError(f"{root}: no <speaker>/<chapter>/*.trans.txt files (not LibriSpeech)")
    utts: list[Utterance] = []
    problems: list[Problem] = []
    for trans in transcripts:
        chapter_dir = trans.parent.absolute()
        speaker = chapter_dir.parent.name
        with open(trans, encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(maxsplit=1)
                if not parts:
                    continue
                utt_id = parts[0]
                audio_path = str(chapter_dir / f"{utt_id}.flac")
                utts.append(
                    Utterance(
                        id=utt_id,
                        audio_path=audio_path,
                        duration=measure_duration(utt_id, audio_path, problems),
                        text=parts[1].strip() if len(parts) > 1 else "",
                        speaker=speaker,
                        language=language,
                    )
                )
    return finish(utts, problems, source=root, format="librispeech")
