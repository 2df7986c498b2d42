"""This machine's latency measurements, kept so that a search can be repeated exactly.

Measured latency varies a little from one run to the next. A search that tells its sampler
measured latencies (as an objective, a constraint or a scalarised penalty) therefore proposes
other architectures after its first few when it is run again with the same seed and config.
A :class:`LatencyMemo` keeps every latency a search's cheap checks measure, keyed by all the
figure depends on:

- the architecture (its id) and the output vocabulary's size;
- what was timed: audio length, timed repeats and CPU threads;
- the machine (its CPU model) and the software: torch, speechnas, and a digest of the source
  of the model code and of the timing code.

A later measurement of the same key on the same machine reads the figure back instead of
timing it again, so a repeated search proposes and records the same trials. Changing the
model code, torch or the CPU changes the key and measures afresh.

The memo is an SQLite file (several worker processes may share it), by default
``latency.sqlite`` in ``$SPEECHNAS_CACHE_DIR`` or ``~/.cache/speechnas``. A memo that
cannot be read or written is skipped with a warning: the latency is then measured, and
nothing is lost.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

import torch

from speechnas._provenance import cpu_name
from speechnas._version import __version__
from speechnas.timing import Latency

__all__ = ["LatencyMemo", "default_memo_path"]

log = logging.getLogger(__name__)

#: Source files whose code decides what a latency measurement times.
_TIMED_CODE = ("models", "timing.py", "hardware/measure.py", "features")


def default_memo_path() -> Path:
    """``$SPEECHNAS_CACHE_DIR/latency.sqlite``, else ``~/.cache/speechnas/latency.sqlite``."""
    root = os.environ.get("SPEECHNAS_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "speechnas"
    return base / "latency.sqlite"


@functools.cache
def _code_digest() -> str:
    """SHA-256 of the source of the model and timing code (:data:`_TIMED_CODE`)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in _TIMED_CODE:
        path = package / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(package)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


class LatencyMemo:
    """Latencies measured on this machine, read back by their key (module docstring).

    Args:
        path: the SQLite file (created with its folder on the first write).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_memo_path()
        self._broken = False

    @staticmethod
    def key(
        arch_id: str,
        *,
        vocab_size: int,
        audio_seconds: float,
        repeats: int,
        threads: int,
        blocks: int = 1,
    ) -> str:
        """The measurement's key: the arguments, the machine and the software."""
        return json.dumps(
            {
                "arch_id": arch_id,
                "vocab_size": vocab_size,
                "audio_seconds": audio_seconds,
                "repeats": repeats,
                "blocks": blocks,
                "threads": threads,
                "cpu": cpu_name(),
                "torch": torch.__version__,
                "speechnas": __version__,
                "code": _code_digest(),
            },
            sort_keys=True,
        )

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30.0)
        db.execute("CREATE TABLE IF NOT EXISTS latency (key TEXT PRIMARY KEY, value TEXT)")
        return db

    def _skip(self, error: Exception) -> None:
        if not self._broken:
            log.warning("latency memo %s is unusable (%s); measuring afresh", self.path, error)
        self._broken = True

    def get(self, key: str) -> Latency | None:
        """The latency stored under ``key``, or ``None``."""
        if self._broken:
            return None
        try:
            with closing(self._connect()) as db, db:
                row = db.execute("SELECT value FROM latency WHERE key = ?", (key,)).fetchone()
            return None if row is None else Latency(**json.loads(row[0]))
        except (sqlite3.Error, OSError, ValueError, TypeError) as e:
            self._skip(e)
            return None

    def put(self, key: str, latency: Latency) -> None:
        """Store ``latency`` under ``key`` (replacing what was there)."""
        if self._broken:
            return
        try:
            with closing(self._connect()) as db, db:
                db.execute(
                    "INSERT OR REPLACE INTO latency (key, value) VALUES (?, ?)",
                    (key, json.dumps(asdict(latency))),
                )
        except (sqlite3.Error, OSError) as e:
            self._skip(e)

    def measured(self, key: str, measure: Callable[[], Latency]) -> Latency:
        """The latency under ``key``: read back, or ``measure()``-d and stored."""
        latency = self.get(key)
        if latency is None:
            latency = measure()
            self.put(key, latency)
        return latency
