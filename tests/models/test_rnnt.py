from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest
import torch

from speechnas.models.rnnt import RNNTHead, transducer_loss


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Every tensor here is tiny: extra threads only add overhead on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _logsumexp(xs: list[float]) -> float:
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def _brute_force_nll(lp: list[list[list[float]]], y: list[int], T: int, U: int) -> float:
    """Sum over every monotonic path through the T x (U + 1) lattice, path by path."""
    paths: list[float] = []

    def walk(t: int, u: int, acc: float) -> None:
        if t == T - 1 and u == U:
            paths.append(acc + lp[t][u][0])  # the final blank leaves the lattice
            return
        if t < T - 1:
            walk(t + 1, u, acc + lp[t][u][0])
        if u < U:
            walk(t, u + 1, acc + lp[t][u][y[u]])

    walk(0, 0, 0.0)
    return -_logsumexp(paths)


def _random_case(
    T_lens: list[int], U_lens: list[int], V: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    B, T, U = len(T_lens), max(T_lens), max(U_lens)
    lp = torch.randn(B, T, U + 1, V, generator=g, dtype=torch.float64).log_softmax(-1)
    targets = torch.randint(1, V, (B, U), generator=g)
    return lp, targets, torch.tensor(T_lens), torch.tensor(U_lens)


@pytest.mark.parametrize(
    ("T_lens", "U_lens"),
    [([1], [0]), ([3], [0]), ([1], [2]), ([4], [3]), ([5, 3, 2, 4], [2, 3, 0, 1])],
)
def test_loss_matches_brute_force(T_lens: list[int], U_lens: list[int]) -> None:
    lp, targets, logit_lens, target_lens = _random_case(T_lens, U_lens, V=5, seed=len(T_lens))
    got = transducer_loss(lp, targets, logit_lens, target_lens)
    for b, (T, U) in enumerate(zip(T_lens, U_lens, strict=True)):
        want = _brute_force_nll(lp[b].tolist(), targets[b].tolist(), T, U)
        assert got[b].item() == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_loss_blank_id_and_zero_frames() -> None:
    lp, targets, _, target_lens = _random_case([3, 3], [2, 1], V=4, seed=3)
    got = transducer_loss(lp.flip(-1), targets.neg() + 3, torch.tensor([3, 0]), target_lens, 3)
    assert got[0].item() == pytest.approx(
        transducer_loss(lp[:1], targets[:1], *_lens(3, 2))[0].item()
    )
    assert got[1].item() == math.inf


def _lens(T: int, U: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([T]), torch.tensor([U])


def test_loss_gradcheck() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[1, 2], [3, 0]])
    logit_lens, target_lens = torch.tensor([3, 2]), torch.tensor([2, 1])

    def fn(x: torch.Tensor) -> torch.Tensor:
        return transducer_loss(x.log_softmax(-1), targets, logit_lens, target_lens)

    assert torch.autograd.gradcheck(fn, (x,))


def test_loss_ignores_padding_values() -> None:
    lp, targets, logit_lens, target_lens = _random_case([5, 3], [2, 3], V=5, seed=1)
    lp.requires_grad_(True)
    base = transducer_loss(lp, targets, logit_lens, target_lens)
    dirty = lp.detach().clone()
    dirty[1, 3:] = float("nan")  # frames past T_1 = 3
    dirty[0, :, 3:] = float("nan")  # target positions past U_0 = 2
    dirty.requires_grad_(True)
    dirty_targets = targets.clone()
    dirty_targets[0, 2:] = -7
    loss = transducer_loss(dirty, dirty_targets, logit_lens, target_lens)
    torch.testing.assert_close(loss, base)
    loss.sum().backward()
    assert dirty.grad is not None and torch.isfinite(dirty.grad).all()


def test_loss_rejects_bad_arguments() -> None:
    lp, targets, logit_lens, target_lens = _random_case([3], [2], V=4, seed=0)
    with pytest.raises(ValueError, match="logit_lens"):
        transducer_loss(lp, targets, torch.tensor([4]), target_lens)
    with pytest.raises(ValueError, match="target_lens"):
        transducer_loss(lp, targets, logit_lens, torch.tensor([3]))
    with pytest.raises(ValueError, match="targets"):
        transducer_loss(lp, targets[:, :1], logit_lens, target_lens)
    with pytest.raises(ValueError, match="blank"):
        transducer_loss(lp, targets, logit_lens, target_lens, blank=4)


def _head(predictor: str, seed: int, dropout: float = 0.1) -> RNNTHead:
    torch.manual_seed(seed)
    return RNNTHead(d_model=6, vocab_size=5, predictor=predictor, dim=8, dropout=dropout)


@pytest.mark.parametrize("predictor", ["lstm", "stateless"])
def test_loss_finite_and_reaches_every_parameter(predictor: str) -> None:
    head = _head(predictor, seed=0)
    enc = torch.randn(3, 7, 6)
    targets = torch.tensor([[1, 2, 3], [4, 0, 0], [2, 2, 0]])
    loss = head.loss(enc, torch.tensor([7, 5, 2]), targets, torch.tensor([3, 1, 2]))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("predictor", ["lstm", "stateless"])
def test_head_loss_is_padding_invariant(predictor: str) -> None:
    head = _head(predictor, seed=1, dropout=0.0)
    enc = torch.randn(3, 9, 6)
    targets = torch.tensor([[1, 2, 3, 4], [4, 1, 0, 0], [3, 0, 0, 0]])
    enc_lens, target_lens = torch.tensor([6, 9, 4]), torch.tensor([2, 2, 0])
    alone = [
        head.nll(
            enc[b : b + 1, : int(enc_lens[b])],
            enc_lens[b : b + 1],
            targets[b : b + 1, : int(target_lens[b])],
            target_lens[b : b + 1],
        )
        for b in range(3)
    ]
    dirty_enc, dirty_targets = enc.clone(), targets.clone()
    dirty_enc[0, 6:] = float("nan")
    dirty_enc[2, 4:] = 1e6
    dirty_targets[0, 2:] = 99  # out of the vocabulary: must never be looked up
    batched = head.nll(dirty_enc, enc_lens, dirty_targets, target_lens)
    torch.testing.assert_close(batched, torch.cat(alone))
    loss = head.loss(dirty_enc, enc_lens, dirty_targets, target_lens)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_head_loss_skips_utterances_without_frames() -> None:
    head = _head("lstm", seed=0)
    loss = head.loss(
        torch.randn(2, 4, 6), torch.tensor([4, 0]), torch.tensor([[1], [2]]), torch.tensor([1, 1])
    )
    assert torch.isfinite(loss)


@pytest.mark.parametrize("predictor", ["lstm", "stateless"])
def test_tiny_head_overfits(predictor: str) -> None:
    torch.manual_seed(0)
    head = RNNTHead(d_model=16, vocab_size=6, predictor=predictor, dim=32, dropout=0.0)
    enc = torch.randn(2, 12, 16)
    enc_lens = torch.tensor([12, 10])
    targets = torch.tensor([[3, 1, 4, 5], [2, 5, 2, 0]])
    target_lens = torch.tensor([4, 3])
    opt = torch.optim.Adam(head.parameters(), lr=0.02)
    for _ in range(200):
        opt.zero_grad()
        loss = head.loss(enc, enc_lens, targets, target_lens)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    head.eval()
    want = [[3, 1, 4, 5], [2, 5, 2]]
    with torch.no_grad():
        assert head.greedy_decode(enc, enc_lens) == want
        assert head.beam_decode(enc, enc_lens, beam_size=3) == want


@pytest.mark.parametrize("predictor", ["lstm", "stateless"])
@pytest.mark.parametrize("seed", range(4))
def test_beam_scores_at_least_greedy(predictor: str, seed: int) -> None:
    head = _head(predictor, seed).eval()
    enc = torch.randn(3, 10, 6) * 2
    enc_lens = torch.tensor([10, 7, 3])
    with torch.no_grad():
        greedy = head.greedy_decode(enc, enc_lens, max_symbols_per_frame=1)
        for beam_size in (1, 2, 4):
            beam = head.beam_decode(enc, enc_lens, beam_size=beam_size)
            for b, (hb, hg) in enumerate(zip(beam, greedy, strict=True)):
                frames = enc[b, : int(enc_lens[b])]
                assert head.blank not in hb
                assert head.score(frames, hb) >= head.score(frames, hg) - 1e-4


@pytest.mark.parametrize("predictor", ["lstm", "stateless"])
def test_score_matches_alignment_enumeration(predictor: str) -> None:
    head = _head(predictor, seed=2).eval()
    T, y = 5, [3, 1, 3]
    enc = torch.randn(T, 6)
    with torch.no_grad():
        lp = head.log_probs(enc[None], torch.tensor([T]), torch.tensor([y]), torch.tensor([3]))[0]
    paths = []
    for frames in itertools.combinations(range(T), len(y)):  # frames that emit a token
        u, acc = 0, 0.0
        for t in range(T):
            if t in frames:
                acc += lp[t, u, y[u]].item()
                u += 1
            else:
                acc += lp[t, u, 0].item()
        paths.append(acc)
    assert head.score(enc, y) == pytest.approx(_logsumexp(paths), abs=1e-5)
    assert head.score(enc[:2], y) == -math.inf


def test_unpruned_beam_is_exact() -> None:
    head = RNNTHead(d_model=6, vocab_size=3, dim=8).eval()
    enc = torch.randn(3, 6) * 2
    every = [s for n in range(4) for s in itertools.product((1, 2), repeat=n)]
    with torch.no_grad():
        beam = head._beam_search(head.enc_proj(enc), beam_size=len(every))
        assert sorted(seq for seq, _ in beam) == sorted(every)
        for seq, running in beam:
            assert running == pytest.approx(head.score(enc, seq), abs=1e-5)
        best = max(every, key=lambda s: head.score(enc, s))
        assert head.beam_decode(enc[None], torch.tensor([3]), beam_size=2) == [list(best)]


def test_greedy_is_padding_invariant() -> None:
    head = _head("lstm", seed=3).eval()
    enc = torch.randn(3, 8, 6) * 3
    enc_lens = torch.tensor([8, 5, 2])
    with torch.no_grad():
        batched = head.greedy_decode(enc, enc_lens)
        alone = [
            head.greedy_decode(enc[b : b + 1, : int(n)], enc_lens[b : b + 1])[0]
            for b, n in enumerate(enc_lens)
        ]
    assert batched == alone
    assert all(len(h) <= 3 * int(n) and 0 not in h for h, n in zip(batched, enc_lens, strict=True))


@pytest.mark.parametrize("predictor", ["lstm", "stateless"])
def test_macs_grow_with_frames_and_tokens(predictor: str) -> None:
    head = RNNTHead(d_model=32, vocab_size=10, predictor=predictor, dim=16)
    assert head.macs(0, 0) > 0
    assert head.macs(10, 3) > head.macs(9, 3) > 0
    assert head.macs(10, 4) > head.macs(10, 3)
    # start symbol + 3 tokens; 13 joiner evaluations; 10 frame projections
    step = 8 * 16 * 16 if predictor == "lstm" else 2 * 16
    assert head.macs(10, 3) == 10 * 32 * 16 + 4 * (step + 16 * 16) + 13 * 16 * 10


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"predictor": "gru"}, "predictor"),
        ({"vocab_size": 1}, "vocab_size"),
        ({"dim": 0}, "dim"),
        ({"d_model": 0}, "d_model"),
        ({"dropout": 1.0}, "dropout"),
        ({"max_symbols_per_frame": 0}, "max_symbols_per_frame"),
    ],
)
def test_constructor_errors(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"d_model": 4, "vocab_size": 5, **kwargs}
    with pytest.raises(ValueError, match=name):
        RNNTHead(**args)  # type: ignore[arg-type]


def test_decode_argument_errors() -> None:
    head = _head("lstm", seed=0).eval()
    enc, enc_lens = torch.randn(1, 3, 6), torch.tensor([3])
    with pytest.raises(ValueError, match="beam_size"):
        head.beam_decode(enc, enc_lens, beam_size=0)
    with pytest.raises(ValueError, match="num_frames"):
        head.macs(-1, 0)


def test_beam_of_one_is_greedy_with_one_symbol_per_frame() -> None:
    head = _head("stateless", seed=5).eval()
    enc = torch.randn(2, 9, 6) * 2
    with torch.no_grad():
        greedy = head.greedy_decode(enc, torch.tensor([9, 9]), max_symbols_per_frame=1)
        for b in range(2):
            [(seq, _)] = head._beam_search(head.enc_proj(enc[b]), beam_size=1)
            assert list(seq) == greedy[b]
