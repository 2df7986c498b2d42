from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from speechnas.testing.search import tiny_search


@pytest.fixture
def tiny_search_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(tiny_search(tmp_path)))
    return path
