"""Training a TTS model on a prepared corpus: the loss falls, a run is repeatable, batches
keep to their frame budget, and the held-out scores are finite and honest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.tts import TTSCorpus
from speechnas.tts.score import score_tts, synthesise
from speechnas.tts.train import MelNorm, TTSTrainSettings, batches, collate, train_tts

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
        stats=corpus.stats(),
        settings=settings,
        log_every=10,
    )


def test_batches_keep_to_their_frame_budget_and_cover_every_utterance(corpus: TTSCorpus) -> None:
    groups = batches(corpus.utterances, 300, np.random.default_rng(0))
    assert sorted(u.id for g in groups for u in g) == sorted(u.id for u in corpus.utterances)
    for g in groups:
        longest = max(u.mel.shape[0] for u in g)
        assert len(g) == 1 or longest * len(g) <= 300
    b = collate(groups[0], MelNorm.of(corpus.utterances), corpus.stats())
    assert b.tokens.shape == b.durations.shape == b.pitch.shape
    assert (b.durations.sum(1) == torch.tensor([u.mel.shape[0] for u in groups[0]])).all()


def test_the_loss_falls_and_a_run_repeats(corpus: TTSCorpus) -> None:
    result = _train(corpus, 60)
    first, last = result.curve[0], result.curve[-1]
    assert result.steps == 60 and len(result.curve) == 6
    assert last["mel"] < 0.8 * first["mel"] and last["duration"] < first["duration"]
    again = _train(corpus, 60)
    for a, b in zip(result.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
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


def test_a_recording_scores_itself_as_perfect(corpus: TTSCorpus) -> None:
    from speechnas.evaluate.tts import mel_cepstral_distortion

    u = corpus.utterances[0]
    assert mel_cepstral_distortion(u.mel, u.mel) == pytest.approx(0.0, abs=1e-9)
