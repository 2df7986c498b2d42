"""SpecAugment: train-only, seeded, and confined to each utterance's valid frames."""

from __future__ import annotations

import pytest
import torch

from speechnas.features import SpecAugment


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(3, 200, 80, generator=torch.Generator().manual_seed(0)) + 10.0
    lens = torch.tensor([200, 120, 40])
    x[1, 120:] = 0.0
    x[2, 40:] = 0.0
    return x, lens


def test_identity_in_eval_mode() -> None:
    aug = SpecAugment(generator=torch.Generator().manual_seed(0)).eval()
    x, lens = _inputs()
    y, y_lens = aug(x, lens)
    assert torch.equal(y, x)
    assert torch.equal(y_lens, lens)


def test_masks_in_train_mode_only_within_valid_frames() -> None:
    aug = SpecAugment(num_time_masks=2, time_mask_ratio=0.2, mask_value=-1.0)
    x, lens = _inputs()
    y, _ = aug.train()(x, lens, generator=torch.Generator().manual_seed(1))
    masked = y != x
    assert masked.any()
    assert (y[masked] == -1.0).all()
    for b, n in enumerate(lens.tolist()):
        assert not masked[b, n:].any()  # padding untouched


def test_mask_widths_are_bounded() -> None:
    aug = SpecAugment(1, 10, 1, 0.1).train()
    x, lens = torch.ones(64, 100, 80), torch.full((64,), 100)
    y, _ = aug(x, lens, generator=torch.Generator().manual_seed(2))
    for b in range(64):
        # A time-masked frame is zero in every feature; a frequency-masked band in every frame.
        masked_frames = (y[b] == 0).all(dim=1).sum().item()
        masked_bands = (y[b] == 0).all(dim=0).sum().item()
        assert masked_frames <= 10
        assert masked_bands <= 10
    assert (y == 0).any()


def test_deterministic_under_a_seeded_generator() -> None:
    x, lens = _inputs()
    aug = SpecAugment().train()
    a, _ = aug(x, lens, generator=torch.Generator().manual_seed(7))
    b, _ = aug(x, lens, generator=torch.Generator().manual_seed(7))
    c, _ = aug(x, lens, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    held = SpecAugment(generator=torch.Generator().manual_seed(7)).train()
    assert torch.equal(held(x, lens)[0], a)


def test_no_generator_in_train_mode_is_an_error() -> None:
    x, lens = _inputs()
    with pytest.raises(ValueError, match="generator"):
        SpecAugment().train()(x, lens)


def test_argument_validation() -> None:
    with pytest.raises(ValueError, match="num_freq_masks"):
        SpecAugment(num_freq_masks=-1)
    with pytest.raises(ValueError, match="time_mask_ratio"):
        SpecAugment(time_mask_ratio=1.5)
    with pytest.raises(ValueError, match="expected x"):
        SpecAugment().eval()(torch.zeros(2, 10), torch.tensor([10, 10]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_masks_on_cuda() -> None:
    x, lens = _inputs()
    aug = SpecAugment().train()
    cpu, _ = aug(x, lens, generator=torch.Generator().manual_seed(3))
    gpu, _ = aug(x.cuda(), lens.cuda(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(gpu.cpu(), cpu)
