"""One process at a time per folder: an advisory lock on ``<folder>/.lock``.

The lock is ``flock``-based, so it is released when its holder exits, however it exits (a
killed process leaves no stale lock behind).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from speechnas.errors import UserError

__all__ = ["exclusive"]


@contextmanager
def exclusive(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s lock (the folder is created) for the ``with`` block.

    Raises:
        UserError: another process holds it ("another ``what`` is running in ``folder``").
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise UserError(f"another {what} is running in {folder}") from e
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
