from __future__ import annotations

import os
from pathlib import Path

import pytest

import speechnas  # noqa: F401  (before any test module imports torch: its OpenMP settings)

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    env = os.environ.get("SPEECHNAS_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The shared speech corpora; tests that need them skip where they are absent."""
    root = shared_data_root()
    if not (root / "README.md").exists():
        pytest.skip(f"shared speech data not found at {root} (set SPEECHNAS_DATA)")
    return root


@pytest.fixture(autouse=True)
def _own_cache_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test measures into a cache of its own, not the user's (``~/.cache/speechnas``)."""
    monkeypatch.setenv("SPEECHNAS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
