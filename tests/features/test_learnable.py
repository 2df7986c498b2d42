"""Learnable filterbank: starts as log-mel, trains, stays non-negative."""

from __future__ import annotations

import torch

from speechnas.features import LearnableFilterbank, LogMel


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    wave = torch.randn(2, 6_000, generator=torch.Generator().manual_seed(0))
    return wave, torch.tensor([6_000, 3_000])


def test_initial_output_equals_logmel() -> None:
    wave, lens = _batch()
    learnable, _ = LearnableFilterbank(64)(wave, lens)
    logmel, _ = LogMel(64)(wave, lens)
    torch.testing.assert_close(learnable, logmel)


def test_gradients_reach_the_filters_including_zero_weights() -> None:
    frontend = LearnableFilterbank(40, normalize="none")
    wave, lens = _batch()
    feats, _ = frontend(wave, lens)
    feats.sum().backward()
    grad = frontend.weight.grad
    assert grad is not None
    assert torch.isfinite(grad).all()
    assert (grad[frontend.weight > 0] != 0).any()
    # clamp passes the gradient at exactly zero, so filters can widen.
    assert (grad[frontend.weight == 0] != 0).any()
    assert [name for name, _ in frontend.named_parameters()] == ["weight"]


def test_filters_stay_non_negative_after_a_step() -> None:
    frontend = LearnableFilterbank(40)
    with torch.no_grad():
        frontend.weight.sub_(0.5)  # push many weights below zero
    assert (frontend.filters() >= 0).all()
    feats, _ = frontend(*_batch())
    assert torch.isfinite(feats).all()


def test_state_dict_holds_only_the_weight() -> None:
    assert list(LearnableFilterbank(40).state_dict()) == ["weight"]
