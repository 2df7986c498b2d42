"""Which process runs a trial, and whether it still lives.

Every trial a search starts carries a ``worker`` record (user attribute): the host, the
process id, the process's start time and a heartbeat, the wall-clock time its process last
wrote, renewed every :data:`HEARTBEAT_SECONDS` while the trial runs. A trial left
``RUNNING`` is dead when

- its record names this machine (host name, boot and process namespace) and its process is
  gone (or the id now belongs to a process started later): known at once, so a search killed
  with ``kill -9`` and run again resumes without waiting;
- its record names this very process, which no longer holds it (a search interrupted by an
  exception and started again in the same Python process);
- its record names another machine and its heartbeat is older than :data:`GRACE_SECONDS`
  (clocks of the machines are assumed synchronised to well within that, as NTP keeps them);
- it has no record: it was started by a version that wrote none, or its process died between
  creating it and writing the record, which the search does under the study's lock
  (:mod:`speechnas.search.study_lock`), so no live process can be seen in that state.

A live trial is never declared dead on this machine however slow its process is; on another
machine, only after a whole grace period without a heartbeat.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

__all__ = ["GRACE_SECONDS", "HEARTBEAT_SECONDS", "Heartbeat", "Worker", "is_dead"]

log = logging.getLogger(__name__)

#: How often a running trial's heartbeat is renewed.
HEARTBEAT_SECONDS = 10.0

#: A trial of another machine whose heartbeat is older than this is dead.
GRACE_SECONDS = 120.0


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _machine() -> str:
    """This machine as processes on it see it: host name, boot, process-id namespace (two
    containers on one kernel with the same host name do not share process ids)."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}|{boot}|{namespace}"


def _started(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot (``""`` where unknown)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""  # field 22, starttime


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, under another user
    return not started or _started(pid) in ("", started)


@dataclass(frozen=True)
class Worker:
    """A process working on a study.

    Attributes:
        machine: host name, boot id and process namespace (see the module doc).
        pid: process id.
        started: the process's start time in clock ticks since boot (``""``: unknown).
    """

    machine: str
    pid: int
    started: str

    @classmethod
    def here(cls) -> Worker:
        """This process."""
        return cls(_machine(), os.getpid(), _started(os.getpid()))

    def record(self) -> dict[str, Any]:
        """The ``worker`` user attribute, its heartbeat now."""
        return {
            "machine": self.machine,
            "pid": self.pid,
            "started": self.started,
            "beat": time.time(),
        }


#: ``(storage URL, trial id)`` of the trials whose heartbeat this process renews.
_held: set[tuple[str, int]] = set()
_held_guard = threading.Lock()


def is_dead(record: Any, here: Worker, now: float | None = None, *, held: bool = False) -> bool:
    """Whether the process of a trial's ``worker`` record is dead (module doc).

    Args:
        held: whether this process holds the trial (:meth:`Heartbeat.holds`).
    """
    if not isinstance(record, dict) or "pid" not in record:
        return True
    if record.get("machine") == here.machine:
        if int(record["pid"]) == here.pid:
            return not held
        return not _alive(int(record["pid"]), str(record.get("started", "")))
    now = time.time() if now is None else now
    return now - float(record.get("beat", 0.0)) > GRACE_SECONDS


class Heartbeat:
    """Renews the ``worker`` record of this process's running trials, in a daemon thread.

    Args:
        storage: the study's storage.
        url: its URL (which trials a process holds is known by URL and trial id).
        worker: this process.
    """

    def __init__(self, storage: optuna.storages.BaseStorage, url: str, worker: Worker) -> None:
        self._storage = storage
        self._url = url
        self._worker = worker
        self._trials: set[int] = set()
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        """Write ``trial_id``'s record now and keep renewing it until it finishes."""
        self._storage.set_trial_user_attr(trial_id, "worker", self._worker.record())
        with _held_guard:
            _held.add((self._url, trial_id))
        with self._guard:
            self._trials.add(trial_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="speechnas-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, trial_id: int) -> None:
        with self._guard:
            self._trials.discard(trial_id)
        with _held_guard:
            _held.discard((self._url, trial_id))

    def holds(self, trial_id: int) -> bool:
        """Whether this process holds ``trial_id`` (through any of its heartbeats)."""
        with _held_guard:
            return (self._url, trial_id) in _held

    def close(self) -> None:
        """Stop the thread and let go of every trial (one still running is then dead: the
        next recovery retries it)."""
        self._stop.set()
        with self._guard:
            trials, self._trials = self._trials, set()
        with _held_guard:
            _held.difference_update((self._url, t) for t in trials)
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT_SECONDS)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with self._guard:
                trials = sorted(self._trials)
            for trial_id in trials:
                try:
                    self._storage.set_trial_user_attr(trial_id, "worker", self._worker.record())
                except optuna.exceptions.UpdateFinishedTrialError:
                    self.discard(trial_id)
                except Exception as e:  # a busy database: the next beat tries again
                    log.debug("heartbeat of trial id %d not written: %s", trial_id, e)
