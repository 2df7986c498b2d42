"""Kaldi data folders: ``wav.scp``, ``text``, optional ``utt2spk``, ``utt2dur`` and
``segments``."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from speechnas.data._problem import Problem
from speechnas.data.manifest import Utterance
from speechnas.data.readers._common import (
    ReadResult,
    absolute,
    check_language,
    finish,
    measure_duration,
)
from speechnas.errors import UserError

__all__ = ["read_kaldi", "read_table"]

logger = logging.getLogger(__name__)


def read_table(path: Path) -> dict[str, str]:
    """Read a Kaldi table: ``<key> <value...>`` per line (the value may be empty or hold spaces).

    Raises:
        UserError: a key occurs twice (the keys and the file are named).
    """
    table: dict[str, str] = {}
    dups: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            key = parts[0]
            if key in table:
                dups.append(key)
            table[key] = parts[1].strip() if len(parts) > 1 else ""
    if dups:
        raise UserError(f"{path}: duplicate ids: {', '.join(sorted(set(dups))[:10])}")
    return table


def _wav_path(value: str, lineno: int, scp: Path) -> str:
    # Kaldi rxfilenames can be commands ("sox a.wav -t wav - |"), stdin ("-") or archive
    # offsets ("a.ark:123"); only plain files can be read here.
    if value.endswith("|") or value == "-" or value.startswith("ark:"):
        raise UserError(
            f"{scp}:{lineno}: only plain audio paths are supported, not piped commands or "
            f"archives: {value!r}; write the audio to files first"
        )
    if not value:
        raise UserError(f"{scp}:{lineno}: no audio path")
    return value


def read_kaldi(src: str | os.PathLike[str], *, language: str = "en") -> ReadResult:
    """Read a Kaldi data folder.

    ``wav.scp`` (``<utt> <path>``) defines the utterances; relative paths are resolved against
    the data folder (Kaldi resolves them against the recipe folder, so prefer absolute paths).
    ``text`` gives transcripts (an utterance without one gets empty text, which validation
    reports). ``utt2spk`` gives speakers (default: the utterance id) and ``utt2dur`` durations
    (default: measured from the audio header).

    With a ``segments`` file (``<utt> <recording> <start> <end>``, seconds; ``end`` -1: to
    the end of the recording), ``wav.scp`` lists recordings and each segment is an
    utterance of its recording (:attr:`~speechnas.data.manifest.Utterance.offset`
    ``start``, duration ``end - start``); ``utt2dur`` is then not needed.

    Args:
        src: The data folder.
        language: Language of every utterance. Default ``"en"``.

    Returns:
        The utterances, sorted by id.

    Raises:
        UserError: no ``wav.scp``; a piped or archive entry (the line is named); duplicate
            ids; a ``segments`` line that is malformed, names a recording not in ``wav.scp``
            or does not end after it starts (the line is named).
    """
    folder = Path(src)
    scp = folder / "wav.scp"
    if not scp.is_file():
        raise UserError(f"{folder}: not a Kaldi data folder with a wav.scp")
    language = check_language(language)
    base = folder.absolute()
    wavs: dict[str, str] = {}
    with open(scp, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            if parts[0] in wavs:
                raise UserError(f"{scp}:{lineno}: duplicate utterance id {parts[0]!r}")
            value = parts[1].strip() if len(parts) > 1 else ""
            wavs[parts[0]] = absolute(_wav_path(value, lineno, scp), base)
    texts = _optional_table(folder / "text")
    speakers = _optional_table(folder / "utt2spk")
    durations = _optional_table(folder / "utt2dur")
    problems: list[Problem] = []
    if (folder / "segments").is_file():
        segments = _segments(folder, wavs, texts, speakers, language, problems)
        _warn_mismatch(folder, {u.id: u.audio_path for u in segments}, texts)
        return finish(segments, problems, source=folder, format="kaldi")
    _warn_mismatch(folder, wavs, texts)
    utts = []
    for utt_id, path in wavs.items():
        if utt_id in durations:
            duration = _parse_duration(durations[utt_id], folder / "utt2dur", utt_id)
        else:
            duration = measure_duration(utt_id, path, problems)
        utts.append(
            Utterance(
                id=utt_id,
                audio_path=path,
                duration=duration,
                text=texts.get(utt_id, ""),
                speaker=speakers.get(utt_id) or utt_id,
                language=language,
            )
        )
    return finish(utts, problems, source=folder, format="kaldi")


def _segments(
    folder: Path,
    recordings: dict[str, str],
    texts: dict[str, str],
    speakers: dict[str, str],
    language: str,
    problems: list[Problem],
) -> list[Utterance]:
    """One utterance per line of ``segments``: a part of a recording of ``wav.scp`` (a
    segment to the end of a recording whose length cannot be read is left out, with its
    problem in ``problems``)."""
    path = folder / "segments"
    utts: list[Utterance] = []
    seen: set[str] = set()
    lengths: dict[str, float] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            where = f"{path}:{lineno}"
            if len(parts) != 4:
                raise UserError(f"{where}: expected '<utt> <recording> <start> <end>'")
            utt_id, recording, start_s, end_s = parts
            if utt_id in seen:
                raise UserError(f"{where}: duplicate utterance id {utt_id!r}")
            seen.add(utt_id)
            if recording not in recordings:
                raise UserError(f"{where}: recording {recording!r} is not in wav.scp")
            try:
                start, end = float(start_s), float(end_s)
            except ValueError:
                raise UserError(f"{where}: start and end must be seconds") from None
            audio = recordings[recording]
            if end == -1:  # Kaldi: to the end of the recording
                if recording not in lengths:
                    lengths[recording] = measure_duration(utt_id, audio, problems)
                if not lengths[recording]:
                    continue
                end = lengths[recording]
            if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                raise UserError(f"{where}: need 0 <= start < end, got {start_s} {end_s}")
            utts.append(
                Utterance(
                    id=utt_id,
                    audio_path=audio,
                    duration=round(end - start, 6),
                    text=texts.get(utt_id, ""),
                    speaker=speakers.get(utt_id) or utt_id,
                    language=language,
                    offset=start,
                )
            )
    return utts


def _optional_table(path: Path) -> dict[str, str]:
    return read_table(path) if path.is_file() else {}


def _parse_duration(value: str, path: Path, utt_id: str) -> float:
    try:
        duration = float(value)
    except ValueError as e:
        raise UserError(f"{path}: {utt_id}: duration is not a number: {value!r}") from e
    if not math.isfinite(duration) or duration < 0:
        raise UserError(f"{path}: {utt_id}: duration must be finite and >= 0, got {value!r}")
    return duration


def _warn_mismatch(folder: Path, wavs: dict[str, str], texts: dict[str, str]) -> None:
    no_text = len(wavs.keys() - texts.keys())
    no_wav = len(texts.keys() - wavs.keys())
    if no_text:
        logger.warning("%s: %d utterance(s) in wav.scp have no text", folder, no_text)
    if no_wav:
        logger.warning(
            "%s: %d utterance(s) in text have no wav.scp entry (skipped)", folder, no_wav
        )
