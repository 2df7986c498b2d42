"""The TTS acoustic model: the length regulator and the predictors on variable-length
batches, padding invariance, and training that lowers its loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.models.tts import LengthRegulator, VariancePredictor, build_tts_model
from speechnas.space import TTSSpace

SPEC = TTSSpec(
    width=32,
    encoder=(TTSBlock("transformer", heads=2), TTSBlock("dsconv", kernel=5)),
    decoder=(TTSBlock("conv", kernel=3), TTSBlock("transformer", heads=4, ffn_expansion=2.0)),
    n_mels=20,
    dropout=0.0,
)


def test_the_length_regulator_repeats_each_token_by_its_duration() -> None:
    x = torch.arange(2 * 3 * 1, dtype=torch.float32).reshape(2, 3, 1)
    durations = torch.tensor([[2, 0, 3], [1, 1, 0]])  # the second item has 2 tokens
    out, lens = LengthRegulator()(x, durations)
    assert lens.tolist() == [5, 2] and out.shape == (2, 5, 1)
    assert out[0, :, 0].tolist() == [0, 0, 2, 2, 2]
    assert out[1, :, 0].tolist() == [3, 4, 0, 0, 0]  # zero past its total


def test_a_predictor_ignores_padding_and_gives_zero_there() -> None:
    torch.manual_seed(0)
    pred = VariancePredictor(16, layers=2, kernel=3, dropout=0.0).eval()
    x = torch.randn(1, 4, 16)
    padded = torch.cat([x, torch.randn(1, 3, 16)], dim=1)
    short = pred(x, torch.ones(1, 4, dtype=torch.bool))
    long = pred(padded, torch.tensor([[True] * 4 + [False] * 3]))
    torch.testing.assert_close(long[:, :4], short)
    assert long[0, 4:].eq(0).all()


def test_an_utterance_is_synthesised_alike_in_any_batch() -> None:
    torch.manual_seed(0)
    model = build_tts_model(SPEC, vocab_size=12).eval()
    tokens = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0]])
    lens = torch.tensor([5, 2])
    durations = torch.tensor([[1, 2, 3, 1, 2], [4, 1, 0, 0, 0]])
    with torch.no_grad():
        both = model(tokens, lens, durations)
        alone = model(tokens[1:, :2], lens[1:], durations[1:, :2])
    assert both["mel_lens"].tolist() == [9, 5] and both["mel"].shape == (2, 9, 20)
    torch.testing.assert_close(both["mel"][1, :5], alone["mel"][0], atol=1e-5, rtol=1e-5)
    assert both["mel"][1, 5:].eq(0).all()
    with torch.no_grad():  # without durations the predicted ones drive it (inference)
        free = model(tokens, lens)
        silent = model(tokens, lens, torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]))
    assert free["mel"].shape[0] == 2 and set(free) >= {"log_durations", "pitch", "energy"}
    assert (free["mel_lens"] >= lens).all() and torch.isfinite(free["mel"]).all()
    # An utterance given no frames at all yields none, and no NaN beside the other one.
    assert silent["mel_lens"].tolist() == [5, 0] and torch.isfinite(silent["mel"]).all()


def test_training_lowers_the_loss_for_every_block_kind() -> None:
    torch.manual_seed(1)
    model = build_tts_model(SPEC, vocab_size=12)
    tokens = torch.tensor([[3, 4, 5, 6], [7, 8, 9, 0]])
    lens = torch.tensor([4, 3])
    durations = torch.tensor([[2, 1, 3, 2], [1, 2, 2, 0]])
    mel = torch.randn(2, 8, 20)
    pitch, energy = torch.randn(2, 4), torch.randn(2, 4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first, _ = model.loss(tokens, lens, mel, durations, pitch, energy)
    for _ in range(30):
        opt.zero_grad()
        loss, parts = model.loss(tokens, lens, mel, durations, pitch, energy)
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first.item()
    assert set(parts) == {"mel", "duration", "pitch", "energy"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_model_of_the_space_builds_and_runs(seed: int) -> None:
    spec = TTSSpace(widths=(32, 64), max_encoder_layers=3).sample(np.random.default_rng(seed))
    model = build_tts_model(spec, vocab_size=10).eval()
    with torch.no_grad():
        out = model(torch.tensor([[1, 2, 3]]), torch.tensor([3]), torch.tensor([[2, 2, 2]]))
    assert out["mel"].shape == (1, 6, spec.n_mels)
    assert ("pitch" in out) == spec.pitch and ("energy" in out) == spec.energy
