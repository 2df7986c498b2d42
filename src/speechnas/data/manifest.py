"""The one canonical manifest: immutable utterance records stored as JSON lines.

Every corpus reader produces a list of :class:`Utterance`; everything downstream (splits,
statistics, training, evaluation) reads only this. A manifest file is JSON lines, optionally
gzip-compressed (``.jsonl.gz``), one record per line, with absolute audio paths so that it can
be moved without breaking. Writing is deterministic: the same records give the same bytes.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from speechnas.data.audio import load_audio
from speechnas.errors import UserError

__all__ = ["MANIFEST_FIELDS", "Utterance", "read_manifest", "total_hours", "write_manifest"]


@dataclass(frozen=True)
class Utterance:
    """One utterance.

    Attributes:
        id: Unique utterance id within a manifest.
        audio_path: Absolute path of the audio file.
        duration: Length in seconds (0.0 when unknown: ``data validate`` measures it).
        text: Transcript as given by the corpus (normalisation happens later, by language);
            a string, possibly empty (:mod:`speechnas.data.usable` says which are usable).
        speaker: Speaker id; readers fall back to the utterance id when a corpus has none.
        language: BCP-47-like language code, e.g. ``"en"``.
        offset: Where the utterance starts in ``audio_path``, in seconds: a segment of a
            longer recording (as Kaldi ``segments`` give it), ``duration`` long; ``None``:
            the whole file.
        channel: The channel of ``audio_path`` it is on (0-based); ``None`` mixes all.
    """

    id: str
    audio_path: str
    duration: float
    text: str
    speaker: str
    language: str = "en"
    offset: float | None = None
    channel: int | None = None

    def __post_init__(self) -> None:
        # A JSON ``null`` (or a number) where text belongs would fail far from the manifest,
        # in normalisation or statistics; here the reader names the file and line.
        for name in ("id", "audio_path", "text", "speaker", "language"):
            value = getattr(self, name)
            if not isinstance(value, str):
                shown = "null" if value is None else repr(value)
                raise ValueError(f"Utterance.{name} must be a string, got {shown}")
        if not self.id:
            raise ValueError("Utterance.id must be non-empty")
        if not isinstance(self.duration, float | int) or math.isnan(self.duration):
            raise ValueError(f"Utterance.duration must be a number, got {self.duration!r}")
        if self.duration < 0:
            raise ValueError(f"Utterance.duration must be >= 0, got {self.duration!r}")
        if self.offset is not None:
            if not isinstance(self.offset, float | int) or not self.offset >= 0:
                raise ValueError(f"Utterance.offset must be a number >= 0, got {self.offset!r}")
            if not self.duration > 0:
                raise ValueError("Utterance.duration must be > 0 for a segment (an offset)")
        if self.channel is not None and (
            isinstance(self.channel, bool) or not isinstance(self.channel, int) or self.channel < 0
        ):
            raise ValueError(f"Utterance.channel must be an integer >= 0, got {self.channel!r}")

    @property
    def is_segment(self) -> bool:
        """Whether it is a part of its audio file (an offset or one channel of several)."""
        return self.offset is not None or self.channel is not None

    def load(self, sample_rate: int) -> np.ndarray:
        """Its waveform (the segment and channel only), as :func:`~speechnas.data.audio.
        load_audio` decodes it."""
        if not self.is_segment:
            return load_audio(self.audio_path, sample_rate)
        return load_audio(
            self.audio_path,
            sample_rate,
            offset=self.offset or 0.0,
            duration=None if self.offset is None else self.duration,
            channel=self.channel,
        )

    def to_json(self) -> str:
        record = asdict(self)
        # A whole-file utterance's record is as it was before segments existed.
        for name in ("offset", "channel"):
            if record[name] is None:
                del record[name]
        return json.dumps(record, ensure_ascii=False, sort_keys=True)


MANIFEST_FIELDS = tuple(f.name for f in fields(Utterance))


def write_manifest(utterances: Iterable[Utterance], path: str | os.PathLike[str]) -> Path:
    """Write ``utterances`` to ``path`` (``.jsonl`` or ``.jsonl.gz``) atomically.

    The bytes depend only on the records: gzip output carries no timestamp or file name.

    Returns:
        The path written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(utt.to_json() + "\n" for utt in utterances).encode("utf-8")
    if out.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return out


def read_manifest(path: str | os.PathLike[str]) -> list[Utterance]:
    """Read a canonical manifest written by :func:`write_manifest`.

    Raises:
        UserError: the file is missing, or a line is not a valid record (the line is named).
    """
    src = Path(path)
    if not src.is_file():
        raise UserError(f"manifest not found: {src}")
    out: list[Utterance] = []
    opener = gzip.open if src.suffix == ".gz" else open
    try:
        with opener(src, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise UserError(f"{src}: cannot read the manifest as UTF-8 JSON lines: {e}") from e
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            unknown = set(rec) - set(MANIFEST_FIELDS)
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            out.append(Utterance(**rec))
        except (ValueError, TypeError) as e:
            raise UserError(f"{src}:{lineno}: not a speechnas manifest record: {e}") from e
    return out


def total_hours(utterances: Sequence[Utterance]) -> float:
    return sum(u.duration for u in utterances) / 3600.0
