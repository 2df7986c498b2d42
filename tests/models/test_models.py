from __future__ import annotations

import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.models import build_model
from speechnas.models.ctc import greedy_ctc_collapse
from speechnas.models.presets import PRESETS
from speechnas.models.subsampling import Conv2dSubsampling

TINY = ArchSpec(d_model=32, num_layers=2, num_heads=2, ffn_expansion=2.0, conv_kernel=5, n_mels=40)


def _batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    wave = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wave[i, :n] = 0.1 * torch.randn(n, generator=g)
    return wave, torch.tensor(lengths)


@pytest.mark.parametrize("factor", [2, 4, 6, 8])
def test_subsampling_lengths(factor: int) -> None:
    sub = Conv2dSubsampling(in_features=40, d_model=16, factor=factor)
    x = torch.randn(3, 101, 40)
    lens = torch.tensor([101, 77, 9])
    y, y_lens = sub(x, lens)
    assert y.shape[0] == 3 and y.shape[2] == 16
    assert int(y_lens.max()) == y.shape[1]
    expected = lens
    for s in sub.strides:
        expected = (expected - 1) // s + 1
    assert torch.equal(y_lens, expected)


def test_forward_shapes_and_loss() -> None:
    model = build_model(TINY, vocab_size=10)
    wave, lens = _batch([16000, 12000, 8000])
    enc, enc_lens = model.encode(wave, lens)
    assert enc.shape[0] == 3 and enc.shape[2] == TINY.d_model
    assert int(enc_lens[0]) == enc.shape[1]
    assert enc_lens[0] > enc_lens[1] > enc_lens[2]
    targets = torch.tensor([[1, 2, 3], [4, 5, 0], [6, 0, 0]])
    loss = model(wave, lens, targets, torch.tensor([3, 2, 1]))
    assert loss.dim() == 0 and torch.isfinite(loss)


def test_gradient_reaches_every_parameter() -> None:
    model = build_model(TINY, vocab_size=10, specaugment=False)
    model.train()
    wave, lens = _batch([16000, 9000])
    loss = model(wave, lens, torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


def test_padding_invariance() -> None:
    model = build_model(TINY, vocab_size=10).eval()
    wave, lens = _batch([16000, 7000, 11000], seed=1)
    with torch.no_grad():
        enc, enc_lens = model.encode(wave, lens)
        alone, alone_lens = model.encode(wave[1:2, :7000], lens[1:2])
    n = int(alone_lens[0])
    assert int(enc_lens[1]) == n
    torch.testing.assert_close(enc[1, :n], alone[0, :n], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_and_count_params(name: str) -> None:
    model = build_model(PRESETS[name], vocab_size=32)
    n = model.num_params()
    assert n == sum(p.numel() for p in model.parameters()) > 100_000


def test_greedy_ctc_collapse() -> None:
    # a a _ a b b _ _ c -> a a b c
    assert greedy_ctc_collapse([1, 1, 0, 1, 2, 2, 0, 0, 3]) == [1, 1, 2, 3]
    assert greedy_ctc_collapse([0, 0, 0]) == []
    assert greedy_ctc_collapse([]) == []


def test_greedy_decode_from_known_logits() -> None:
    model = build_model(TINY, vocab_size=4)
    head = model.head
    with torch.no_grad():
        head.proj.weight.copy_(torch.eye(4, TINY.d_model))
        head.proj.bias.zero_()
    # Frames whose largest coordinate spells 2 2 0 3 3 1 (then padding).
    path = [2, 2, 0, 3, 3, 1, 1]
    enc = torch.zeros(1, len(path), TINY.d_model)
    for t, k in enumerate(path):
        enc[0, t, k] = 1.0
    assert head.greedy_decode(enc, torch.tensor([6])) == [[2, 3, 1]]


def test_arch_spec_validation_names_field() -> None:
    with pytest.raises(ValueError, match="num_heads"):
        ArchSpec(d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="n_mels"):
        ArchSpec(n_mels=50)
    spec = ArchSpec(d_model=64, num_heads=8)
    assert ArchSpec.from_json(spec.to_json()) == spec
    assert spec.arch_id == ArchSpec(d_model=64, num_heads=8).arch_id != ArchSpec().arch_id
