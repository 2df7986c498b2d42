"""speechnas's own manifests (written by :func:`~speechnas.data.manifest.write_manifest`)."""

from __future__ import annotations

import os

from speechnas.data.manifest import read_manifest
from speechnas.data.readers._common import ReadResult, finish, manifest_in

__all__ = ["read_canonical"]


def read_canonical(src: str | os.PathLike[str], *, language: str = "en") -> ReadResult:
    """Read a canonical manifest (``.jsonl`` or ``.jsonl.gz``) or a folder holding one.

    Args:
        src: The manifest file or its folder.
        language: Unused: canonical records carry their language. Kept so that every reader
            has the same signature.

    Returns:
        The utterances, sorted by id.

    Raises:
        UserError: no manifest, a malformed record, or duplicate ids.
    """
    del language
    path = manifest_in(src)
    return finish(read_manifest(path), [], source=path, format="manifest")
