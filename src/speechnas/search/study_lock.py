"""A lock shared by every process working on one study, held while the study changes state.

Starting a trial (counting the budget, asking the sampler, deciding who trains an
architecture), finishing one and failing a dead one's trials happen under it, so that several
searches on one study meet the trial budget exactly, never train one architecture twice and
never fail each other's live trials. It is held for milliseconds at a time, except by the
weight-sharing strategies, which run in one process per study at a time.

Where the lock lives follows the storage:

- SQLite: ``flock`` on ``<database>.lock`` beside the database file (the processes share its
  file system, as they must to share the database);
- PostgreSQL: a session advisory lock keyed by the study name;
- MySQL: a named lock (``GET_LOCK``);
- any other backend, or an in-memory SQLite: within this process only (a warning says so).

Every kind is released when its holder dies (for the database locks: when its session ends,
so the lock takes a connection of its own, not one of a pool; a connection pooler in
transaction mode, such as PgBouncer's, cannot carry it). Within one process the lock is
re-entrant.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import threading
from collections.abc import Iterator
from typing import IO, Any

import sqlalchemy

from speechnas.errors import UserError

__all__ = ["StudyLock"]

log = logging.getLogger(__name__)


class StudyLock:
    """The lock of study ``name`` in the database at ``url`` (module doc).

    Args:
        url: the storage's SQLAlchemy URL.
        name: the study name.

    Raises:
        UserError: ``url`` is not a database URL.
    """

    def __init__(self, url: str, name: str) -> None:
        self._url = url
        self._name = name
        self._local = threading.RLock()
        self._depth = 0
        self._file: IO[str] | None = None
        self._engine: sqlalchemy.engine.Engine | None = None
        self._connection: sqlalchemy.engine.Connection | None = None
        self._warned = False
        try:
            parsed = sqlalchemy.engine.make_url(url)
        except sqlalchemy.exc.ArgumentError as e:
            raise UserError(f"cannot open the results database {url!r}: {e}") from e
        self._dialect = parsed.get_backend_name()
        self._path = parsed.database if self._dialect == "sqlite" else None
        if self._dialect == "sqlite" and self._path in (None, "", ":memory:"):
            self._dialect = "memory"

    @contextlib.contextmanager
    def hold(self, waiting: str = "") -> Iterator[None]:
        """Hold the lock for the ``with`` block.

        Args:
            waiting: logged (as info) when another process holds the lock, before waiting.
        """
        with self._local:
            if self._depth == 0:
                if not self._acquire(blocking=False):
                    if waiting:
                        log.info("%s", waiting)
                    self._acquire(blocking=True)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()

    def _key(self) -> int:
        digest = hashlib.sha1(f"speechnas:{self._name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _acquire(self, *, blocking: bool) -> bool:
        if self._dialect == "sqlite":
            if self._file is None:
                try:
                    self._file = open(f"{self._path}.lock", "a")  # noqa: SIM115 (held open)
                except OSError as e:
                    raise UserError(
                        f"cannot open the study's lock file {self._path}.lock: {e.strerror}"
                    ) from e
            flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
            try:
                fcntl.flock(self._file, flags)
            except BlockingIOError:
                return False
            return True
        if self._dialect in ("postgresql", "mysql"):
            if self._connection is None:
                self._connection = self._connect()
            return self._database_lock(blocking)
        if self._dialect != "memory" and not self._warned:
            self._warned = True
            log.warning(
                "searches sharing a study on %s are not coordinated across processes; "
                "use SQLite or PostgreSQL to run several on one study",
                self._dialect,
            )
        return True  # this process only: the RLock above

    def _connect(self) -> sqlalchemy.engine.Connection:
        """A connection of its own (not from a pool shared with the storage, where it could be
        recycled under the lock), kept alive by TCP keepalives while the lock is held."""
        if self._engine is None:
            args: dict[str, Any] = {}
            if self._dialect == "postgresql":
                args = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
            self._engine = sqlalchemy.create_engine(
                self._url, poolclass=sqlalchemy.pool.NullPool, connect_args=args
            )
        return self._engine.connect()

    def _database_lock(self, blocking: bool) -> bool:
        assert self._connection is not None
        query: Any
        if self._dialect == "postgresql":
            fn = "pg_advisory_lock" if blocking else "pg_try_advisory_lock"
            query = sqlalchemy.text(f"SELECT {fn}(:key)")
            params: dict[str, Any] = {"key": self._key()}
        else:
            query = sqlalchemy.text("SELECT GET_LOCK(:name, :timeout)")
            params = {"name": f"speechnas:{self._key():x}", "timeout": -1 if blocking else 0}
        got = self._connection.execute(query, params).scalar()
        self._connection.commit()
        # pg_advisory_lock returns an empty value (void) once it holds the lock.
        return bool(got) or (blocking and self._dialect == "postgresql")

    def _release(self) -> None:
        if self._dialect == "sqlite" and self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        elif self._connection is not None:
            if self._dialect == "postgresql":
                query = sqlalchemy.text("SELECT pg_advisory_unlock(:key)")
                params: dict[str, Any] = {"key": self._key()}
            else:
                query = sqlalchemy.text("SELECT RELEASE_LOCK(:name)")
                params = {"name": f"speechnas:{self._key():x}"}
            try:
                released = self._connection.execute(query, params).scalar()
                self._connection.commit()
            except sqlalchemy.exc.SQLAlchemyError as e:
                released = False
                log.debug("releasing the study lock: %s", e)
            if not released:
                # The session ended under the lock (a lost connection, a restarted server):
                # another process may have held it meanwhile.
                log.warning(
                    "the lock of study %r was lost while held (its database session ended)",
                    self._name,
                )
                self._connection.close()
                self._connection = None

    def close(self) -> None:
        """Let go of the lock's file or connection (the lock must not be held)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
