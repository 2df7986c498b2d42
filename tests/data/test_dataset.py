"""Training data: over-long audio is skipped with its reason, before it is decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechnas.data import manifest as manifest_module
from speechnas.data.dataset import SpeechDataset, endless_batches
from speechnas.errors import UserError
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.text import build_tokenizer


def test_audio_over_the_limit_is_skipped_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    utts = make_corpus(tmp_path / "c", n=2)  # 1.3 s each
    tokenizer = build_tokenizer("char", ["yes no up"])
    decoded: list[str] = []
    load_audio = manifest_module.load_audio

    def counting(path: str, *args: object, **kwargs: object) -> object:
        decoded.append(path)
        return load_audio(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(manifest_module, "load_audio", counting)
    short = SpeechDataset(utts, tokenizer, max_seconds=1.0)
    assert short.load(0) is None and short.skipped == {utts[0].id: "too long"}
    assert decoded == []
    assert SpeechDataset(utts, tokenizer, max_seconds=2.0).load(0) is not None
    with pytest.raises(ValueError, match="max_seconds"):
        SpeechDataset(utts, tokenizer, max_seconds=0.0)
    stream = endless_batches(
        utts, tokenizer, source="c.jsonl", batch_seconds=10.0, max_batch_size=4, max_seconds=1.0
    )
    with pytest.raises(UserError, match="c.jsonl: every utterance was skipped"):
        next(stream)
