"""A folder of corpora, one per language: ``<root>/<language>/`` each in a format of its own."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path

from speechnas.data._problem import Problem
from speechnas.data.manifest import Utterance
from speechnas.data.readers._common import ReadResult, check_language, finish, is_language_tag
from speechnas.data.readers._detect import guess_single_format
from speechnas.data.readers._single import SINGLE_CORPUS
from speechnas.errors import UserError

__all__ = ["language_folders", "read_multilingual"]

logger = logging.getLogger(__name__)


def language_folders(root: Path) -> tuple[dict[str, str], list[str]]:
    """``{folder name: format}`` of the subfolders of ``root`` that hold a corpus, and the
    names of those that hold none (``root``'s files are not looked at)."""
    found: dict[str, str] = {}
    other: list[str] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        fmt = guess_single_format(sub)
        if fmt is None:
            other.append(sub.name)
        else:
            found[sub.name] = fmt
    return found, other


def read_multilingual(
    src: str | os.PathLike[str],
    *,
    language: str = "en",
    languages: Collection[str] | None = None,
) -> ReadResult:
    """Read every corpus in the subfolders of ``src`` as one corpus.

    Each subfolder is read by the reader of its own format (detected); its name is the
    language of its records that do not name one (a Common Voice manifest's ``language`` or
    tsv ``locale`` wins). Subfolders that hold no corpus are skipped with a warning that names
    them.

    Args:
        src: The folder of corpora (``commonvoice/`` with ``ar/``, ``br/``, ...).
        language: Not used (each folder names its language); accepted as every reader's is.
        languages: read only the folders of these names (None: all).

    Returns:
        All utterances, sorted by id; the problems of every subfolder.

    Raises:
        UserError: ``src`` is not a folder, no subfolder holds a corpus, the name of one that
            does is not a language tag (:func:`is_language_tag`; a corpus split in
            ``train/`` and ``dev/`` is not one per language), or utterance ids repeat across
            subfolders (named).
    """
    root = Path(src)
    if not root.is_dir():
        raise UserError(f"{root}: a multilingual corpus is a folder of one folder per language")
    check_language(language)
    found, other = language_folders(root)
    if languages is not None:
        found = {name: fmt for name, fmt in found.items() if name in languages}
    if not found:
        raise UserError(f"{root}: no subfolder holds a corpus (one folder per language)")
    untagged = [name for name in found if not is_language_tag(name)]
    if untagged:
        raise UserError(
            f"{root}: a multilingual corpus has one folder per language, named by its code "
            f"(de, fy-NL, ...); these are not: {', '.join(untagged)}"
        )
    if other:
        logger.warning("%s: skipping subfolders that hold no corpus: %s", root, ", ".join(other))
    utts: list[Utterance] = []
    problems: list[Problem] = []
    folder_of: dict[str, str] = {}
    for name, fmt in found.items():
        read = SINGLE_CORPUS[fmt](root / name, language=check_language(name))
        repeated = sorted(u.id for u in read.utterances if u.id in folder_of)
        if repeated:
            shown = ", ".join(f"{i} ({folder_of[i]}/, {name}/)" for i in repeated[:5])
            raise UserError(f"{root}: utterance ids repeat across language folders: {shown}")
        folder_of.update((u.id, name) for u in read.utterances)
        utts.extend(read.utterances)
        problems.extend(read.problems)
    return finish(utts, problems, source=root, format="multilingual")
