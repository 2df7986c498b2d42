from __future__ import annotations

from pathlib import Path

import pytest

from speechnas.data.paths import DATA_ENV_VAR, default_data_root


def test_env_var_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "mine"))
    assert default_data_root() == tmp_path / "mine"


def test_cwd_then_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert default_data_root() == tmp_path / "shared" / "data"
    monkeypatch.chdir(tmp_path)  # no ../shared/data here: falls back to the repository's
    root = default_data_root()
    assert root.is_absolute() and root.parts[-2:] == ("shared", "data")
