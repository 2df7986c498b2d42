"""Throw-away servers for tests and benchmarks: a PostgreSQL server and a Ray head node,
each on a loopback port, started from what this machine has installed and stopped (with
everything they started) when the block ends.

Example:
    >>> with postgres_server(Path("/tmp/pg")) as url:  # doctest: +SKIP
    ...     run_search(replace(config, storage=url))
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ServerMissing", "free_port", "postgres_server", "ray_head"]

#: How long a server may take to come up: only a broken machine takes this long (seconds).
START_SECONDS = 600.0


class ServerMissing(RuntimeError):
    """The server cannot run here (not installed, or no user to run it as): say why."""


def free_port() -> int:
    """A TCP port of the loopback interface that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server(max_connections: int = 100) -> Iterator[str]:
    """A fresh PostgreSQL cluster on a loopback port (trust authentication, no fsync: for
    tests); its SQLAlchemy URL.

    Raises:
        ServerMissing: no ``initdb``/``pg_ctl`` on the PATH, no ``psycopg``, or running as
            root without a ``postgres`` user to run the server as.
    """
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        raise ServerMissing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ServerMissing("the PostgreSQL driver psycopg is not installed") from None
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise ServerMissing(
                "running as root and there is no 'postgres' user to run the server"
            ) from None
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="speechnas-pg-", dir="/tmp"))
    root.chmod(0o777)
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    sockets.chmod(0o777)

    def run(*cmd: str) -> None:
        # Generous limits: a busy machine is slow, not broken.
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=900)

    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust")
    port = free_port()
    options = (
        f"-k {sockets} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off "
        f"-c max_connections={max_connections}"
    )
    log = str(root / "log")
    run(pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "-t", "600", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


_RAY_READY = """
import sys, ray
ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False)
assert ray.get(ray.remote(lambda: 1).remote()) == 1
"""


@contextlib.contextmanager
def ray_head(cpus: int, log: Path) -> Iterator[str]:
    """A Ray head node with ``cpus`` CPUs (``ray start --head``), its output in ``log``;
    its address, once a task runs on it.

    Raises:
        ServerMissing: Ray is not installed.
    """
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        raise ServerMissing("Ray is not installed (pip install 'speechnas[ray]')")
    port = free_port()
    # A short folder of its own: Ray's socket paths must stay under the OS's length limit.
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    with log.open("wb") as out:
        head = subprocess.Popen(
            [
                str(ray),
                "start",
                "--head",
                "--block",
                f"--port={port}",
                f"--num-cpus={cpus}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={temp}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the head and every process it starts: one group
            # No token authentication on this loopback cluster: clients here connect with
            # none (a token file left in ~/.ray by a local Ray would otherwise switch it on).
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"},
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if head.poll() is not None:
                raise RuntimeError(f"the Ray head exited: {log.read_text()[-3000:]}")
            probe = subprocess.run(
                [sys.executable, "-c", _RAY_READY, address], capture_output=True, timeout=600
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(probe.stderr.decode(errors="replace")[-3000:])
            time.sleep(1.0)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # `ray stop` would stop every Ray of this user
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)
