"""Tell a corpus format from what is on disk."""

from __future__ import annotations

import json
import os
from itertools import chain
from pathlib import Path

from speechnas.data.readers._common import find_manifest, is_language_tag, open_text
from speechnas.errors import UserError

__all__ = ["detect_format", "guess_format", "guess_single_format"]

_JSONL_ENDINGS = (".jsonl", ".jsonl.gz", ".json")


def _jsonl_flavour(path: Path) -> str | None:
    """``"nemo"`` or ``"manifest"`` from the keys of the first record (None: neither)."""
    try:
        with open_text(path) as f:
            first = next((line for line in f if line.strip()), None)
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise UserError(f"{path}: cannot read: {e}") from e
    if first is None:
        return "manifest"  # an empty manifest: zero utterances either way
    try:
        rec = json.loads(first)
    except ValueError as e:
        raise UserError(f"{path}:1: not JSON lines: {e}") from e
    if isinstance(rec, dict) and "audio_filepath" in rec:
        return "nemo"
    if isinstance(rec, dict) and {"id", "audio_path"} <= rec.keys():
        return "manifest"
    return None


def _is_librispeech(folder: Path) -> bool:
    # <subset>/<speaker>/<chapter>/ or a folder of subsets, as read_librispeech accepts.
    hits = chain(folder.glob("*/*/*.trans.txt"), folder.glob("*/*/*/*.trans.txt"))
    return next(hits, None) is not None


def guess_format(src: str | os.PathLike[str]) -> str | None:
    """Like :func:`detect_format`, but return None when no format matches.

    Raises:
        UserError: ``src`` does not exist, or a manifest in it cannot be read.
    """
    single = guess_single_format(src)
    path = Path(src)
    if single is None and path.is_dir():
        corpora = [s for s in path.iterdir() if s.is_dir() and guess_single_format(s)]
        if corpora and all(is_language_tag(s.name) for s in corpora):
            return "multilingual"
    return single


def guess_single_format(src: str | os.PathLike[str]) -> str | None:
    """The format of ``src`` as one corpus (not a folder of corpora), or None.

    Raises:
        UserError: ``src`` does not exist, or a manifest in it cannot be read.
    """
    path = Path(src)
    if not path.exists():
        raise UserError(f"no such file or folder: {path}")
    if path.is_file():
        if path.name.endswith(_JSONL_ENDINGS):
            return _jsonl_flavour(path)
        if path.suffix == ".tsv":
            return "commonvoice"
        return None
    manifest = find_manifest(path)
    if manifest is not None:
        return _jsonl_flavour(manifest)
    if (path / "wav.scp").is_file():
        return "kaldi"
    if (path / "validated.tsv").is_file() and (path / "clips").is_dir():
        return "commonvoice"
    if _is_librispeech(path):
        return "librispeech"
    return None


def detect_format(src: str | os.PathLike[str]) -> str:
    """Name the reader for ``src`` (a key of :data:`~speechnas.data.readers.READERS`).

    Rules, first match wins:

    - a ``.jsonl``/``.jsonl.gz``/``.json`` file, or a folder with ``manifest.jsonl`` (or one
      ``*.jsonl``): ``"nemo"`` if the first record has ``audio_filepath``, ``"manifest"`` if
      it has ``id`` and ``audio_path``;
    - a folder with ``wav.scp``: ``"kaldi"``;
    - a ``.tsv`` file, or a folder with ``validated.tsv`` and ``clips/``: ``"commonvoice"``;
    - a folder with ``<speaker>/<chapter>/*.trans.txt`` below it: ``"librispeech"``;
    - a folder whose subfolders that are any of these are all named by a language tag:
      ``"multilingual"`` (one corpus per language, ``commonvoice/<lang>/``).

    Raises:
        UserError: ``src`` does not exist or matches no format (the path is named).
    """
    fmt = guess_format(src)
    if fmt is None:
        raise UserError(
            f"{src}: cannot tell the corpus format (expected a manifest.jsonl, a Kaldi wav.scp, "
            "a Common Voice validated.tsv with clips/, LibriSpeech */*/*.trans.txt, or "
            "one folder per language holding one of these); pass --format"
        )
    return fmt
