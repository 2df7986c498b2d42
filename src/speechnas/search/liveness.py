"""Which process runs a trial, and whether it still lives.

Every trial a search starts carries a ``worker`` record (user attribute): the host, the
process id, the process's start time and a heartbeat, the wall-clock time its process last
wrote, renewed every :data:`HEARTBEAT_SECONDS` while the trial runs. A trial left
``RUNNING`` is dead when

- its record names this machine (host name, boot and process namespace) and its process is
  gone, a zombie, or the id now belongs to a process started later: known at once, so a
  search killed with ``kill -9`` and run again resumes without waiting (on a system without
  ``/proc`` the machine is not known this way, and the heartbeat decides, as for another
  machine);
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

from speechnas.search.record import write_stored_attrs

__all__ = ["GRACE_SECONDS", "HEARTBEAT_SECONDS", "Heartbeat", "Worker", "is_dead"]

log = logging.getLogger(__name__)

#: How often a running trial's heartbeat is renewed.
HEARTBEAT_SECONDS = 10.0

#: A trial of another machine whose heartbeat is older than this is dead.
GRACE_SECONDS = 120.0

#: Heartbeats that failed in a row before a warning is logged.
MISSED_BEATS_WARNING = 3


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _machine() -> str:
    """This machine as processes on it see it: host name, boot, process-id namespace (two
    containers on one kernel with the same host name do not share process ids); ``""`` where
    the boot or the namespace cannot be read (then no process id is trusted)."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}|{boot}|{namespace}" if boot and namespace else ""


def _stat(pid: int) -> list[str]:
    """Process ``pid``'s ``/proc/PID/stat`` fields from the third (state) on; ``[]``: none."""
    stat = _read(f"/proc/{pid}/stat")
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat.rsplit(")", 1)[-1].split() if stat else []


def _started(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot (``""`` where unknown)."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22, starttime


def _alive(pid: int, started: str) -> bool:
    """Whether ``pid`` is the process that started at ``started`` and has not ended (a
    process that has ended but is not yet reaped, a zombie, has ended)."""
    fields = _stat(pid)
    if len(fields) <= 19:
        return False
    return fields[0] not in ("Z", "X") and fields[19] == started


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
    try:
        pid, beat = int(record["pid"]), float(record["beat"])
    except (TypeError, KeyError, ValueError):
        return True  # no record (or none this version wrote)
    if here.machine and here.started and record.get("machine") == here.machine:
        if pid == here.pid:
            return not held
        return not _alive(pid, str(record.get("started", "")))
    now = time.time() if now is None else now
    return now - beat > GRACE_SECONDS


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
        #: Study user attributes renewed with the worker record: (study id, key) -> payload.
        self._claims: dict[tuple[int, str], dict[str, Any]] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        """Write ``trial_id``'s record now and keep renewing it until it finishes."""
        write_stored_attrs(self._storage, trial_id, worker=self._worker.record())
        with _held_guard:
            _held.add((self._url, trial_id))
        with self._guard:
            self._trials.add(trial_id)
            self._start()

    def _start(self) -> None:
        """Start the thread if it does not run (hold ``_guard``)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="speechnas-heartbeat", daemon=True
            )
            self._thread.start()

    def claim(self, study_id: int, key: str, payload: dict[str, Any]) -> None:
        """Write the study's user attribute ``key``, ``payload`` with this process's
        ``worker`` record, now and at every beat until :meth:`unclaim` (a claim on work of
        the whole study, judged alive or dead like a trial)."""
        self._storage.set_study_user_attr(
            study_id, key, {**payload, "worker": self._worker.record()}
        )
        with self._guard:
            self._claims[(study_id, key)] = payload
            self._start()

    def unclaim(self, study_id: int, key: str) -> None:
        with self._guard:
            self._claims.pop((study_id, key), None)

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
            self._claims.clear()
        with _held_guard:
            _held.difference_update((self._url, t) for t in trials)
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT_SECONDS)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with self._guard:
                trials = sorted(self._trials)
                claims = dict(self._claims)
            for trial_id in trials:
                try:
                    write_stored_attrs(self._storage, trial_id, worker=self._worker.record())
                    failures = 0
                except optuna.exceptions.UpdateFinishedTrialError:
                    self.discard(trial_id)
                except Exception as e:  # the next beat tries again; say so if it keeps failing
                    failures += 1
                    self._missed(failures, e)
            for (study_id, key), payload in claims.items():
                record = {**payload, "worker": self._worker.record()}
                try:
                    self._storage.set_study_user_attr(study_id, key, record)
                except Exception as e:
                    failures += 1
                    self._missed(failures, e)

    @staticmethod
    def _missed(failures: int, e: Exception) -> None:
        level = logging.WARNING if failures == MISSED_BEATS_WARNING else logging.DEBUG
        log.log(
            level,
            "heartbeat not written (%d in a row; after %g s without one, searches on other "
            "machines take this process's trials for dead): %s",
            failures,
            GRACE_SECONDS,
            e,
        )
