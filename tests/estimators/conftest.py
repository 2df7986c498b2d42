from __future__ import annotations

from pathlib import Path

import pytest

from speechnas.data.manifest import write_manifest
from speechnas.testing.audio_fixtures import make_corpus


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> dict[str, Path]:
    train = make_corpus(tmp_path / "train", n=12, seed=0)
    dev = make_corpus(tmp_path / "dev", n=4, seed=1)
    return {
        "train": write_manifest(train, tmp_path / "train.jsonl"),
        "dev": write_manifest(dev, tmp_path / "dev.jsonl"),
        "root": tmp_path,
    }
