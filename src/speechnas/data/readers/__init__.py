"""Corpus readers: each turns one on-disk layout into canonical :class:`Utterance` records.

Every reader has the signature ``reader(src, *, language="en") -> ReadResult`` and follows the
same contract: ids are unique (duplicates raise :class:`~speechnas.errors.UserError` naming
them), utterances are sorted by id, ``language`` is used where the corpus does not say, and one
unreadable audio file never stops a reader (it is listed in ``ReadResult.problems`` with
duration 0.0; full checks are :func:`speechnas.data.validate.validate`'s job). A folder of
corpora, one per language (``commonvoice/<lang>/``), reads as one corpus (``multilingual``).

Example:
    >>> from speechnas.data.readers import READERS, detect_format
    >>> sorted(READERS)
    ['commonvoice', 'kaldi', 'librispeech', 'manifest', 'multilingual', 'nemo']
"""

from __future__ import annotations

import os
from collections.abc import Collection

from speechnas.data.readers._common import AUDIO_SUFFIXES, Reader, ReadResult
from speechnas.data.readers._detect import detect_format, guess_format
from speechnas.data.readers._single import SINGLE_CORPUS
from speechnas.data.readers.multilingual import read_multilingual
from speechnas.errors import UserError

__all__ = [
    "AUDIO_SUFFIXES",
    "FORMATS",
    "READERS",
    "ReadResult",
    "Reader",
    "detect_format",
    "guess_format",
    "read_corpus",
    "resolve_format",
]


READERS: dict[str, Reader] = {**SINGLE_CORPUS, "multilingual": read_multilingual}

#: What ``--format`` accepts.
FORMATS: tuple[str, ...] = ("auto", *READERS)


def resolve_format(src: str | os.PathLike[str], format: str = "auto") -> str:
    """``format`` checked against :data:`READERS`, or detected from ``src`` when ``"auto"``.

    Raises:
        UserError: ``src`` does not exist, ``format`` is unknown, or auto-detection fails; the
            message names ``src``.
    """
    if not os.path.exists(src):
        raise UserError(f"no such file or folder: {src}")
    if format == "auto":
        return detect_format(src)
    if format not in READERS:
        raise UserError(f"{src}: unknown format {format!r}; choose from {', '.join(FORMATS)}")
    return format


def read_corpus(
    src: str | os.PathLike[str],
    *,
    format: str = "auto",
    language: str | None = None,
    languages: Collection[str] | None = None,
) -> ReadResult:
    """Read ``src`` with the reader for ``format`` (detected when ``"auto"``).

    Args:
        src: A manifest file, a tsv, or a corpus folder.
        format: ``"auto"`` or a key of :data:`READERS`.
        language: Passed to the reader; None keeps its default (``"en"``).
        languages: For a folder of one corpus per language, read only these languages'
            folders (others are not opened); ignored by the other formats.

    Returns:
        The reader's result.

    Raises:
        UserError: see :func:`resolve_format` and the readers.
    """
    fmt = resolve_format(src, format)
    reader = READERS[fmt]
    try:
        if fmt == "multilingual":
            return read_multilingual(src, languages=languages)
        return reader(src) if language is None else reader(src, language=language)
    except UnicodeDecodeError as e:
        raise UserError(f"{src}: a {fmt} text file is not UTF-8 ({e})") from e
