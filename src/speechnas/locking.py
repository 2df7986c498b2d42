"""One process at a time per folder: an advisory lock on ``<folder>/.lock``.

The lock is ``flock``-based, so it is released when its holder exits, however it exits (a
killed process leaves no stale lock behind). It is re-entrant within a process: a search
that holds its run folder for the search, its final stage and its report calls functions
that each take the same lock (the threads of one process share what it holds).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from speechnas.errors import UserError

__all__ = ["exclusive"]

#: Folders this process holds, with how many ``with`` blocks hold each.
_held: dict[Path, int] = {}


@contextmanager
def exclusive(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s lock (the folder is created) for the ``with`` block.

    Raises:
        UserError: another process holds it ("another ``what`` is running in ``folder``").
    """
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _held:  # this process holds it already
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise UserError(f"another {what} is running in {folder}") from e
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            fcntl.flock(handle, fcntl.LOCK_UN)
