"""The TTS corpus: aligned durations sum to the mel length, prosody is per token, bad input
is skipped with its reason, and a corpus survives a round trip through its file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from speechnas.errors import UserError
from speechnas.models import build_model
from speechnas.presets import preset
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.text import build_tokenizer
from speechnas.tts import (
    TTS_FRONTEND,
    TTSCorpus,
    align_corpus,
    normalised_variance,
    variance_stats,
)


def test_durations_sum_to_the_mel_length_and_prosody_is_per_token(corpus: TTSCorpus) -> None:
    assert len(corpus) == 6
    for u in corpus.utterances:
        assert sum(u.durations) == u.mel.shape[0] and u.mel.shape[1] == TTS_FRONTEND["n_mels"]
        assert len(u.durations) == len(u.tokens) == len(u.pitch) == len(u.energy)
        assert all(d >= 0 for d in u.durations)
        assert all(e >= 0 for e in u.energy) and max(u.energy) > 0
    assert corpus.utterances[1].text == "yes no"
    # The tones are 300-1200 Hz: a voiced token's pitch is in YIN's range.
    voiced = [p for u in corpus.utterances for p in u.pitch if p > 0]
    assert voiced and all(60 <= p <= 510 for p in voiced)


def test_what_cannot_be_prepared_is_skipped_with_its_reason(corpus: TTSCorpus) -> None:
    reasons = dict(corpus.skipped)
    assert set(reasons) == {"bad_truncated", "zed"}
    assert "unreadable" in reasons["bad_truncated"]
    assert "does not know" in reasons["zed"]


def test_variance_is_normalised_by_the_training_statistics(corpus: TTSCorpus) -> None:
    stats = variance_stats(corpus.utterances)
    parts = [normalised_variance(u, stats) for u in corpus.utterances]
    energy = torch.cat(
        [
            e[torch.tensor(u.durations) > 0]
            for u, (_, e) in zip(corpus.utterances, parts, strict=True)
        ]
    )
    assert abs(float(energy.mean())) < 1e-4 and abs(float(energy.std()) - 1.0) < 0.1
    pitch = torch.cat(
        [p[torch.tensor(u.pitch) > 0] for u, (p, _) in zip(corpus.utterances, parts, strict=True)]
    )
    assert abs(float(pitch.mean())) < 1e-4 and abs(float(pitch.std()) - 1.0) < 0.1
    for u, (p, e) in zip(
        corpus.utterances, parts, strict=True
    ):  # unvoiced, frameless: at the mean
        assert all(float(p[i]) == 0.0 for i, f0 in enumerate(u.pitch) if f0 == 0)
        assert all(float(e[i]) == 0.0 for i, d in enumerate(u.durations) if d == 0)
    # Statistics of a subset are the subset's: held-out sentences stay unseen.
    assert variance_stats(corpus.utterances[:2]) != stats


def test_a_corpus_round_trips_and_splits(corpus: TTSCorpus, tmp_path: Path) -> None:
    back = TTSCorpus.load(corpus.save(tmp_path / "c.pt"))
    assert back.tokenizer == corpus.tokenizer and back.skipped == corpus.skipped
    for a, b in zip(back.utterances, corpus.utterances, strict=True):
        assert (a.id, a.tokens, a.durations, a.pitch) == (b.id, b.tokens, b.durations, b.pitch)
        assert torch.equal(a.mel, b.mel)
    train, test = corpus.split(2, seed=1)
    assert len(train) == 4 and len(test) == 2
    assert {u.id for u in train}.isdisjoint(u.id for u in test)
    assert corpus.split(2, seed=1) == (train, test)
    (tmp_path / "x.pt").write_text("no")
    with pytest.raises(UserError, match="x.pt"):
        TTSCorpus.load(tmp_path / "x.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    del state["utterances"][0]["durations"]
    torch.save(state, tmp_path / "damaged.pt")
    with pytest.raises(UserError, match="damaged.pt: a damaged TTS corpus"):
        TTSCorpus.load(tmp_path / "damaged.pt")
    a, b = corpus.utterances[:2]
    assert a == a and a != b  # by identity: no tensor comparison


def test_an_aligner_without_ctc_or_a_tokenizer_of_pieces_is_refused(
    corpus: TTSCorpus, tmp_path: Path
) -> None:
    tok = corpus.tokenizer
    transducer = build_model(preset("conformer-transducer-streaming"), vocab_size=tok.vocab_size)
    real = make_corpus(tmp_path, n=1)
    pieces = build_tokenizer("bpe", ["yes no up"] * 50, vocab_size=12)
    with pytest.raises(UserError, match="character tokenizer"):
        align_corpus(real, transducer, pieces)
    with pytest.raises(UserError, match="has no CTC projection"):
        align_corpus(real, transducer, tok)
