"""A run in progress, saved so that a killed run continues where it stopped.

Long loops that end in one result file (a supernet's training, a DARTS run) save their whole
state (weights, optimisers, random generators, data positions, history) every few minutes
to a partial file beside the result. Started again with the same config (budgets and paths
aside), they load it and go on as if they had not stopped; a config that differs in
anything else starts from the beginning, with a warning. The file goes once the result is
written.

Every file a run writes to be read back (a partial run, a trained supernet) holds tensors and
plain data only (dicts, lists, tuples, str, int, float, bool, None) and is read with
:func:`read_run_file`, which loads it with ``weights_only=True``: a run folder is just a
folder, and a pickle put there by someone else must not run code when a run is resumed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from speechnas.errors import UserError
from speechnas.train.checkpoint import read_saved, save_checkpoint

__all__ = ["BUDGET_AND_PLACE", "PartialRun", "read_run_file", "resume_key"]

log = logging.getLogger(__name__)


#: Config fields a partial run may change: the budget, where it goes, the device.
BUDGET_AND_PLACE = ("max_steps", "max_minutes", "checkpoint_minutes", "out_dir", "settings.device")


def read_run_file(path: Path, kind: str = "run file") -> Any:
    """What a run wrote to ``path`` to read back, loaded as tensors and plain data only
    (:func:`~speechnas.train.checkpoint.read_saved`).

    Raises:
        UserError: the file cannot be read that way (damaged, written by an older speechnas
            that stored other objects, or not by speechnas); the message names it and says
            to move it away.
    """
    try:
        return read_saved(path, kind)
    except UserError as e:
        raise UserError(f"{e}; move it away to retrain") from None


def resume_key(config: Any, ignore: tuple[str, ...]) -> str:
    """The fields of the dataclass ``config`` a partial run must share with it, as one
    string: all but the top-level ``ignore`` ones and the dotted ``ignore`` ones
    (``"settings.device"``) of nested dataclasses."""
    fields = dataclasses.asdict(config)
    for name in ignore:
        *parents, leaf = name.split(".")
        node = fields
        for parent in parents:
            node = node[parent]
        node.pop(leaf)
    return json.dumps(fields, sort_keys=True, default=str)


class PartialRun:
    """The partial file ``path`` of a run whose config gives ``key`` (:func:`resume_key`).

    Args:
        path: the partial file (written atomically: a kill mid-write keeps the last one).
        key: what a saved state must carry to be resumed.
        every_minutes: how often :meth:`due` says a save is due (0: at every call).
        what: the run's name, for the log.
    """

    def __init__(self, path: Path, key: str, *, every_minutes: float, what: str) -> None:
        self.path = Path(path)
        self.key = key
        self.every_minutes = every_minutes
        self.what = what
        self._saved_at = time.perf_counter()

    def load(self) -> dict[str, Any] | None:
        """The saved state if there is one of this config, else ``None`` (another config's
        is logged and ignored, and replaced by the first save).

        Raises:
            UserError: the file cannot be read as tensors and plain data
                (:func:`read_run_file`). Saves are atomic, so this is not a save cut short,
                and the file is kept for the user to look at rather than overwritten.
        """
        if not self.path.is_file():
            return None
        saved = read_run_file(self.path, "partial run")
        if not isinstance(saved, dict) or saved.get("key") != self.key:
            log.warning("%s: %s is of another config; starting again", self.what, self.path)
            return None
        log.info("%s: resuming at step %s (%s)", self.what, saved.get("step"), self.path)
        return saved

    def due(self) -> bool:
        """Whether ``every_minutes`` have passed since the last save (or the start)."""
        return time.perf_counter() - self._saved_at >= 60.0 * self.every_minutes

    def save(self, state: dict[str, Any]) -> None:
        """Save ``state`` (with the key) now."""
        save_checkpoint(self.path, {**state, "key": self.key})
        self._saved_at = time.perf_counter()

    def discard(self) -> None:
        """Remove the file (the run has written its result)."""
        self.path.unlink(missing_ok=True)
