from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from speechnas.testing.search import tiny_search
from speechnas.testing.servers import ServerMissing, postgres_server, ray_head


@pytest.fixture
def tiny_search_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(tiny_search(tmp_path)))
    return path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on a loopback port (skipped where none is installed)."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except ServerMissing as e:
            pytest.skip(str(e))
        yield url


@pytest.fixture
def ray_address(tmp_path: Path) -> Iterator[str]:
    """A throw-away local Ray cluster (a head node with 2 CPUs, on loopback); its address."""
    with contextlib.ExitStack() as stack:
        try:
            address = stack.enter_context(ray_head(2, tmp_path / "ray-head.log"))
        except ServerMissing as e:
            pytest.skip(str(e))
        yield address
