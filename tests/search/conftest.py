from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from speechnas.testing.search import tiny_search


@pytest.fixture
def tiny_search_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(tiny_search(tmp_path)))
    return path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on a Unix socket (skipped where none is installed)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is not installed")
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
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
    options = f"-k {sockets} -c listen_addresses='' -c fsync=off"
    log = str(root / "log")
    run(pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "-t", "600", "start")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={sockets}"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
