"""Checks on the real corpora in ``../shared/data`` (skipped where they are absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from speechnas.data.prepare import prepare
from speechnas.data.split import split_by_speaker

DATA_ROOT = Path(
    os.environ.get("SPEECHNAS_DATA") or Path(__file__).parents[2].parent / "shared" / "data"
)
SPEECHOCEAN = DATA_ROOT / "speechocean762" / "train"

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(
        not (SPEECHOCEAN / "manifest.jsonl").is_file(),
        reason=f"shared data absent: no {SPEECHOCEAN / 'manifest.jsonl'} "
        "(set SPEECHNAS_DATA to the folder holding speechocean762/)",
    ),
]


def test_speechocean762_prepare_and_split(tmp_path: Path) -> None:
    utts = prepare(SPEECHOCEAN, tmp_path / "train.jsonl.gz", format="nemo")
    assert len(utts) == 2500
    assert len({u.speaker for u in utts}) == 125
    assert all(u.duration > 0 and Path(u.audio_path).is_absolute() for u in utts)
    assert sum(u.duration for u in utts) / 3600 == pytest.approx(2.876, abs=0.001)

    train, dev = split_by_speaker(utts, dev_fraction=0.1, seed=0)
    assert not {u.speaker for u in train} & {u.speaker for u in dev}
    assert len(train) + len(dev) == 2500
    # every speaker has 20 utterances, so dev is within half a speaker (10) of 250
    assert abs(len(dev) - 250) <= 10


COMMONVOICE = DATA_ROOT / "commonvoice"


@pytest.mark.skipif(
    not (COMMONVOICE / "de" / "manifest.jsonl").is_file(),
    reason=f"shared data absent: no {COMMONVOICE / 'de' / 'manifest.jsonl'}",
)
def test_the_commonvoice_folder_reads_as_one_corpus_split_within_each_language() -> None:
    from speechnas.data.readers import read_corpus

    result = read_corpus(COMMONVOICE)
    assert result.format == "multilingual"
    by_language = {u.language for u in result.utterances}
    assert len(by_language) == 42 and {"de", "fy-NL", "zh-CN"} <= by_language
    assert len(result.utterances) == 3348
    train, dev = split_by_speaker(result.utterances, dev_fraction=0.2, seed=0)
    assert not {u.speaker for u in train} & {u.speaker for u in dev}
    assert {u.language for u in dev} == by_language
