"""Training a TTS model on a prepared corpus: the loss falls, a run is repeatable, batches
keep to their frame budget, and the held-out scores are finite and honest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.errors import UserError
from speechnas.train.checkpoint import save_checkpoint
from speechnas.tts import TTSCorpus, variance_stats
from speechnas.tts.score import score_tts, synthesise
from speechnas.tts.train import (
    MelNorm,
    TTSTrainSettings,
    batches,
    collate,
    load_tts_checkpoint,
    train_tts,
)

SPEC = TTSSpec(
    width=32,
    encoder=(TTSBlock("dsconv", kernel=3, ffn_expansion=2.0),),
    decoder=(TTSBlock("transformer", heads=2, ffn_expansion=2.0),),
    text_units="char",
    dropout=0.0,
)


def _train(corpus: TTSCorpus, steps: int, seed: int = 0):  # type: ignore[no-untyped-def]
    settings = TTSTrainSettings(steps=steps, batch_frames=400, lr=3e-3, warmup_steps=5, seed=seed)
    return train_tts(
        SPEC,
        corpus.utterances,
        vocab_size=corpus.tokenizer.vocab_size,
        stats=variance_stats(corpus.utterances),
        settings=settings,
        log_every=10,
    )


def test_batches_keep_to_their_frame_budget_and_cover_every_utterance(corpus: TTSCorpus) -> None:
    groups = batches(corpus.utterances, 300, np.random.default_rng(0))
    assert sorted(u.id for g in groups for u in g) == sorted(u.id for u in corpus.utterances)
    for g in groups:
        longest = max(u.mel.shape[0] for u in g)
        assert len(g) == 1 or longest * len(g) <= 300
    b = collate(groups[0], MelNorm.of(corpus.utterances), variance_stats(corpus.utterances))
    assert b.tokens.shape == b.durations.shape == b.pitch.shape
    assert (b.durations.sum(1) == torch.tensor([u.mel.shape[0] for u in groups[0]])).all()


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_the_loss_falls_and_a_run_repeats(corpus: TTSCorpus, tmp_path: Path) -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    result = _train(corpus, 60)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG untouched
    first, last = result.curve[0], result.curve[-1]
    assert result.steps == 60 and len(result.curve) == 6
    assert last["mel"] < 0.8 * first["mel"] and last["duration"] < first["duration"]
    again = _train(corpus, 60)
    for a, b in zip(result.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    path = save_checkpoint(tmp_path / "m.pt", result.state(corpus.tokenizer.to_state()))
    model, norm, tokenizer, state = load_tts_checkpoint(path)
    assert tokenizer == corpus.tokenizer and state["settings"]["steps"] == 60
    assert "git_commit" in state["run_info"] or state["run_info"]
    assert torch.equal(norm.mean, result.norm.mean)
    u = corpus.utterances[0]
    assert torch.equal(
        synthesise(model, norm, u.tokens), synthesise(result.model, result.norm, u.tokens)
    )
    (tmp_path / "x.pt").write_text("not a checkpoint")
    with pytest.raises(UserError, match="x.pt"):
        load_tts_checkpoint(tmp_path / "x.pt")
    other = _train(corpus, 60, seed=1)
    assert not all(
        torch.equal(a, b)
        for a, b in zip(result.model.parameters(), other.model.parameters(), strict=True)
    )


def test_held_out_scores_come_from_the_text_alone(corpus: TTSCorpus) -> None:
    result = _train(corpus, 30)
    u = corpus.utterances[0]
    mel = synthesise(result.model, result.norm, u.tokens)
    assert mel.shape[1] == 80 and mel.shape[0] >= len(u.tokens)  # every token >= 1 frame
    scores = score_tts(result.model, result.norm, corpus.utterances[:2])
    assert scores.sentences == 2 and scores.cer is None
    assert np.isfinite([scores.mcd_db, scores.mel_l1, scores.length_error]).all()
    assert scores.mcd_db > 0
    with pytest.raises(ValueError, match="no held-out"):
        score_tts(result.model, result.norm, [])
    with pytest.raises(ValueError, match="intelligibility_count=-1"):
        score_tts(result.model, result.norm, corpus.utterances[:2], intelligibility_count=-1)


def test_settings_out_of_range_are_named() -> None:
    with pytest.raises(ValueError, match="warmup_steps=-1"):
        TTSTrainSettings(warmup_steps=-1)
    with pytest.raises(ValueError, match="threads=0"):
        TTSTrainSettings(threads=0)
