"""Tests of the attention encoder-decoder head (both decoders)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from speechnas.models._head import Head
from speechnas.models.aed import AEDHead
from speechnas.testing.mac_hooks import count_macs

DECODERS = ["transformer", "lstm"]
D = 16
V = 7


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run step by step: on a shared machine extra threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _head(decoder: str, seed: int = 0, **kwargs: float | int) -> AEDHead:
    torch.manual_seed(seed)
    options: dict[str, float | int] = {"dim": 32, "heads": 4, "num_layers": 2}
    options.update(kwargs)
    return AEDHead(d_model=D, vocab_size=V, decoder=decoder, **options)  # type: ignore[arg-type]


def _enc(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random encoder output with garbage (not zeros) in the padded frames."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(len(lengths), max(lengths), D, generator=g), torch.tensor(lengths)


def _targets(rows: list[list[int]], pad: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    targets = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        targets[i, : len(r)] = torch.tensor(r)
    return targets, torch.tensor([len(r) for r in rows])


@pytest.mark.parametrize("decoder", DECODERS)
def test_loss_finite_and_gradient_reaches_every_parameter(decoder: str) -> None:
    head = _head(decoder).train()
    assert isinstance(head, Head)
    enc, enc_lens = _enc([12, 9, 6])
    targets, target_lens = _targets([[1, 2, 3, 4], [5, 6], [2]])
    loss = head.loss(enc, enc_lens, targets, target_lens)
    assert loss.dim() == 0 and torch.isfinite(loss)
    torch.autograd.backward(loss)
    missing = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


@pytest.mark.parametrize("decoder", DECODERS)
def test_loss_is_padding_invariant(decoder: str) -> None:
    head = _head(decoder).eval()
    enc, enc_lens = _enc([12, 7, 9], seed=1)
    targets, target_lens = _targets([[1, 2, 3], [4, 5, 6, 1, 2], [3]], pad=-1)
    batch = head.loss(enc, enc_lens, targets, target_lens)
    alone = [
        head.loss(
            enc[i : i + 1, :n], enc_lens[i : i + 1], targets[i : i + 1, :u], target_lens[i : i + 1]
        )
        for i, (n, u) in enumerate(zip(enc_lens.tolist(), target_lens.tolist(), strict=True))
    ]
    torch.testing.assert_close(batch, torch.stack(alone).mean(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("decoder", DECODERS)
def test_ctc_weight_mixes_losses(decoder: str) -> None:
    enc, enc_lens = _enc([10, 8])
    targets, target_lens = _targets([[1, 2], [3, 4, 5]])
    losses = {}
    for w in (0.0, 0.5):
        head = _head(decoder, ctc_weight=w, label_smoothing=0.0).eval()
        losses[w] = head.loss(enc, enc_lens, targets, target_lens)
    ctc = head.ctc.loss(enc, enc_lens, targets, target_lens)
    torch.testing.assert_close(losses[0.5], 0.5 * losses[0.0] + 0.5 * ctc)


@pytest.mark.parametrize("decoder", DECODERS)
def test_stepwise_decoding_matches_teacher_forcing(decoder: str) -> None:
    head = _head(decoder).eval()
    enc, enc_lens = _enc([11, 6])
    tokens = torch.tensor([[0, 3, 1, 4, 4], [0, 2, 6, 5, 1]])
    with torch.no_grad():
        memory, mem_mask = head.enc_proj(enc), enc_lens[:, None] > torch.arange(11)
        full = head.decoder(tokens, memory, mem_mask)  # (B, L, V)
        state = head.decoder.init_state(memory, mem_mask)
        steps = []
        for i in range(tokens.shape[1]):
            logits, state = head.decoder.step(tokens[:, i], state)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("decoder", DECODERS)
def test_greedy_decode_is_padding_invariant(decoder: str) -> None:
    head = _head(decoder, seed=3).eval()
    enc, enc_lens = _enc([13, 5, 9], seed=2)
    batch = head.greedy_decode(enc, enc_lens)
    alone = [
        head.greedy_decode(enc[i : i + 1, :n], enc_lens[i : i + 1])[0]
        for i, n in enumerate(enc_lens.tolist())
    ]
    assert batch == alone
    beams = head.beam_decode(enc, enc_lens, beam_size=3)
    assert beams == [
        head.beam_decode(enc[i : i + 1, :n], enc_lens[i : i + 1], 3)[0]
        for i, n in enumerate(enc_lens.tolist())
    ]
    for hyp, n in zip(batch + beams, enc_lens.tolist() * 2, strict=True):
        assert 0 not in hyp and len(hyp) <= head.max_len(n)


@pytest.mark.parametrize("decoder", DECODERS)
def test_tiny_head_overfits(decoder: str) -> None:
    torch.manual_seed(0)
    head = AEDHead(
        d_model=D, vocab_size=V, decoder=decoder, dim=32, heads=4, dropout=0.0, label_smoothing=0.0
    )
    enc, enc_lens = _enc([15, 13, 11], seed=4)
    targets, target_lens = _targets([[3, 1, 4], [1, 5, 6, 2, 6], [5, 3, 5, 2]])
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    for _ in range(200):
        opt.zero_grad()
        torch.autograd.backward(head.loss(enc, enc_lens, targets, target_lens))
        opt.step()
    head.eval()
    expected = [targets[i, :u].tolist() for i, u in enumerate(target_lens.tolist())]
    assert head.greedy_decode(enc, enc_lens) == expected
    assert head.beam_decode(enc, enc_lens, beam_size=3) == expected


@pytest.mark.parametrize("decoder", DECODERS)
def test_beam_scores_at_least_greedy(decoder: str) -> None:
    strictly_better = 0
    for seed in range(6):
        torch.manual_seed(seed)
        head = AEDHead(d_model=8, vocab_size=5, decoder=decoder, dim=16, heads=2).eval()
        enc = 2.0 * torch.randn(1, 6, 8)
        greedy = head.greedy_decode(enc, torch.tensor([6]))[0]
        assert head.beam_decode(enc, torch.tensor([6]), beam_size=1)[0] == greedy
        for beam_size in (2, 4):
            beam = head.beam_decode(enc, torch.tensor([6]), beam_size)[0]
            assert 0 not in beam
            gap = head.score(enc[0], 6, beam) - head.score(enc[0], 6, greedy)
            assert gap >= 0.0
            strictly_better += gap > 1e-6
    assert strictly_better > 0  # the search does more than reproduce greedy decoding


@pytest.mark.parametrize("decoder", DECODERS)
def test_wide_beam_finds_the_best_hypothesis(decoder: str) -> None:
    # V = 3, 3 frames, max_len 3: 1 + 2 + 4 + 8 = 15 hypotheses, none pruned by a beam of 64.
    for seed in range(3):
        torch.manual_seed(seed)
        head = AEDHead(d_model=8, vocab_size=3, decoder=decoder, dim=16, heads=2).eval()
        enc = 2.0 * torch.randn(1, 3, 8)
        every = [list(h) for u in range(4) for h in itertools.product([1, 2], repeat=u)]
        best = max(head.score(enc[0], 3, h) for h in every)
        beam = head.beam_decode(enc, torch.tensor([3]), beam_size=64)[0]
        assert head.score(enc[0], 3, beam) == pytest.approx(best, abs=1e-6)


class _GreedyRun(nn.Module):
    """Wraps greedy decoding as a forward pass, for ``count_macs``."""

    def __init__(self, head: AEDHead) -> None:
        super().__init__()
        self.head = head
        self.out: list[list[int]] = []

    def forward(self, enc: torch.Tensor, enc_lens: torch.Tensor) -> None:
        self.out = self.head.greedy_decode(enc, enc_lens)


@pytest.mark.parametrize("decoder", DECODERS)
def test_macs_match_hooks_and_grow(decoder: str) -> None:
    head = _head(decoder).eval()
    assert 0 < head.macs(10, 0) < head.macs(10, 1) < head.macs(10, 2) < head.macs(11, 2)
    enc, enc_lens = _enc([10])
    run = _GreedyRun(head)
    out = head.decoder.out
    assert isinstance(out, nn.Linear)
    bias = out.bias
    with torch.no_grad():
        bias.fill_(0.0)
        bias[0] = 100.0  # eos at once: one step, no token
    assert count_macs(run, enc, enc_lens) == head.macs(10, 0) and run.out == [[]]
    with torch.no_grad():
        bias[0] = -100.0  # never eos: stops after max_len steps, no eos step
    macs = count_macs(run, enc, enc_lens)
    assert len(run.out[0]) == head.max_len(10) == 10
    assert macs == head.macs(10, head.max_len(10) - 1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"decoder": "gru"}, "decoder"),
        ({"ctc_weight": 1.0}, "ctc_weight"),
        ({"ctc_weight": -0.1}, "ctc_weight"),
        ({"dim": 30, "heads": 4}, "heads"),
        ({"heads": 0}, "heads"),
        ({"num_layers": 0}, "num_layers"),
        ({"vocab_size": 1}, "vocab_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
        ({"max_len_ratio": 0.0}, "max_len_ratio"),
    ],
)
def test_constructor_errors_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    options: dict[str, object] = {"d_model": D, "vocab_size": V}
    options.update(kwargs)
    with pytest.raises(ValueError, match=name):
        AEDHead(**options)  # type: ignore[arg-type]


def test_lstm_decoder_ignores_heads() -> None:
    # ``heads`` is a Transformer parameter (not active in an ``aed_lstm`` spec).
    shapes = [
        [
            p.shape
            for p in AEDHead(d_model=D, vocab_size=V, decoder="lstm", dim=30, heads=h).parameters()
        ]
        for h in (1, 4)
    ]
    assert shapes[0] == shapes[1]


def test_bad_call_arguments_are_named() -> None:
    head = _head("transformer").eval()
    enc, _ = _enc([5, 5])
    with pytest.raises(ValueError, match="enc_lens"):
        head.greedy_decode(enc, torch.tensor([5, 0]))
    with pytest.raises(ValueError, match="beam_size"):
        head.beam_decode(enc, torch.tensor([5, 5]), beam_size=0)
    with pytest.raises(ValueError, match="tokens"):
        head.score(enc[0], 5, [1, 0, 2])
