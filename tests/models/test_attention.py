"""Self-attention kinds against naive references, chunk masks, streaming and MAC counts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from speechnas.models.attention import SelfAttention, attention_mask
from speechnas.models.conformer import ConformerLayer
from speechnas.models.transformer import TransformerLayer
from speechnas.testing.mac_hooks import count_macs

WIDTH, HEADS = 16, 4


def _attention(kind: str, **kwargs: object) -> SelfAttention:
    """An eval-mode attention with non-trivial weights (u, v and biases included)."""
    torch.manual_seed(0)
    attn = SelfAttention(width=WIDTH, heads=HEADS, kind=kind, **kwargs)  # type: ignore[arg-type]
    with torch.no_grad():
        for p in attn.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return attn.eval()


def _batch(lengths: list[int], seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lengths), max(lengths), WIDTH)
    for i, n in enumerate(lengths):
        x[i, :n] = torch.randn(n, WIDTH, generator=g)
    return x, torch.tensor(lengths)


def _heads(attn: SelfAttention, h: Tensor) -> Tensor:
    b, t, _ = h.shape
    return h.view(b, t, attn.heads, attn.head_width).transpose(1, 2)  # (B,T,D) -> (B,H,T,d)


def _sinusoid_table(distances: Tensor, dim: int) -> Tensor:
    """Interleaved sin/cos embedding written out element by element."""
    table = torch.zeros(len(distances), dim)
    for i in range(dim):
        freq = 10000.0 ** (-(i - i % 2) / dim)
        angle = distances.double() * freq
        table[:, i] = (angle.sin() if i % 2 == 0 else angle.cos()).float()
    return table


def _naive_softmax_attention(attn: SelfAttention, x: Tensor, x_lens: Tensor) -> Tensor:
    """Dense O(T^2) reference: every score, masked with ``attention_mask`` and -inf."""
    b, t, _ = x.shape
    q, k, v = (_heads(attn, f(x)) for f in (attn.query, attn.key, attn.value))
    scale = 1.0 / math.sqrt(attn.head_width)
    pos = torch.arange(t)
    window = attn.window if attn.kind == "local" else None
    mask = attention_mask(
        pos[:, None], pos[None, :], chunk=attn.chunk, left_context=attn.left_context, window=window
    )[None] & (pos[None, None, :] < x_lens[:, None, None])  # (B, T, T)
    if attn.kind == "rel":
        u = attn.pos_bias_u[None, :, None, :]
        scores = (q + u) @ k.transpose(-1, -2)
        distance = (pos[:, None] - pos[None, :]).flatten()  # i - j for every (i, j)
        p = attn.pos_proj(_sinusoid_table(distance, attn.width))
        p = p.view(t, t, attn.heads, attn.head_width)
        v_bias = attn.pos_bias_v[None, :, None, :]
        scores = scores + torch.einsum("bhid,ijhd->bhij", q + v_bias, p)
    else:
        scores = q @ k.transpose(-1, -2)
    scores = (scores * scale).masked_fill(~mask[:, None], float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # all-masked rows -> 0
    out: Tensor = attn.out((weights @ v).transpose(1, 2).reshape(b, t, attn.width))
    return out * (pos[None, :, None] < x_lens[:, None, None])


# --- the mask --------------------------------------------------------------------------------


def test_attention_mask_by_hand() -> None:
    pos = torch.arange(8)
    mask = attention_mask(pos[:, None], pos[None, :], chunk=3, left_context=2).int()
    # Frame 4 is in chunk 1 (frames 3-5) and sees frames 1-5.
    assert mask[4].tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    # Frame 7 is in chunk 2 (frames 6-8) and sees frames 4-8.
    assert mask[7].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    local = attention_mask(pos[:, None], pos[None, :], chunk=3, left_context=2, window=1).int()
    assert local[4].tolist() == [0, 0, 0, 1, 1, 1, 0, 0]
    assert local[3].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert local[5].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]  # not past the chunk's end
    before_start = attention_mask(torch.tensor([0]), torch.tensor([-1, 0]))
    assert before_start.tolist() == [False, True]


# --- kinds against references ------------------------------------------------------------------

STREAMING = [{}, {"chunk": 4, "left_context": 6}, {"chunk": 3, "left_context": 0}]


@pytest.mark.parametrize("kind", ["abs", "rel", "local"])
@pytest.mark.parametrize("stream", STREAMING, ids=["full", "c4-l6", "c3-l0"])
def test_softmax_kinds_match_naive(kind: str, stream: dict[str, int]) -> None:
    attn = _attention(kind, window=3, **stream)
    for lengths in ([7, 3], [30, 17, 0]):  # dense and block layouts, an empty utterance
        x, x_lens = _batch(lengths)
        with torch.no_grad():
            y = attn(x, x_lens)
            expected = _naive_softmax_attention(attn, x, x_lens)
        torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("stream", STREAMING[:2], ids=["full", "c4-l6"])
def test_rel_without_positional_terms_equals_abs(stream: dict[str, int]) -> None:
    abs_attn = _attention("abs", **stream)
    rel = SelfAttention(width=WIDTH, heads=HEADS, kind="rel", **stream).eval()
    missing, unexpected = rel.load_state_dict(abs_attn.state_dict(), strict=False)
    assert sorted(missing) == ["pos_bias_u", "pos_bias_v", "pos_proj.weight"] and not unexpected
    with torch.no_grad():
        rel.pos_bias_u.zero_()
        rel.pos_bias_v.zero_()
        rel.pos_proj.weight.zero_()
    x, x_lens = _batch([21, 9])
    with torch.no_grad():
        torch.testing.assert_close(rel(x, x_lens), abs_attn(x, x_lens), atol=1e-6, rtol=0)


@pytest.mark.parametrize("stream", STREAMING[:2], ids=["full", "c4-l6"])
def test_local_with_wide_window_equals_abs(stream: dict[str, int]) -> None:
    abs_attn = _attention("abs", **stream)
    local = SelfAttention(width=WIDTH, heads=HEADS, kind="local", window=21, **stream).eval()
    local.load_state_dict(abs_attn.state_dict())
    x, x_lens = _batch([21, 9])
    with torch.no_grad():
        torch.testing.assert_close(local(x, x_lens), abs_attn(x, x_lens), atol=1e-6, rtol=0)


def test_linear_matches_naive_quadratic_formula() -> None:
    attn = _attention("linear")
    x, x_lens = _batch([19, 11, 0])
    with torch.no_grad():
        y = attn(x, x_lens)
        q, k, v = (_heads(attn, f(x)) for f in (attn.query, attn.key, attn.value))
        phi_q = torch.nn.functional.elu(q) + 1
        phi_k = torch.nn.functional.elu(k) + 1
        valid = torch.arange(x.shape[1])[None, :] < x_lens[:, None]  # (B, T)
        sim = (phi_q @ phi_k.transpose(-1, -2)) * valid[:, None, None, :]  # (B, H, T, T)
        ctx = (sim @ v) / sim.sum(-1, keepdim=True).clamp(min=1e-30)
        expected = attn.out(ctx.transpose(1, 2).reshape(x.shape[0], x.shape[1], WIDTH))
        expected = expected * valid[..., None]
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)
    assert y[2].abs().max() == 0


# --- chunks, left context and streaming ------------------------------------------------------


@pytest.mark.parametrize("kind", ["abs", "rel", "local"])
def test_later_chunks_do_not_change_earlier_outputs(kind: str) -> None:
    attn = _attention(kind, window=5, chunk=4, left_context=6)
    x, x_lens = _batch([24])
    changed = x.clone()
    changed[:, 8:] = torch.randn(1, 16, WIDTH)  # chunks 2 and later
    with torch.no_grad():
        y, y_changed = attn(x, x_lens), attn(changed, x_lens)
    torch.testing.assert_close(y_changed[:, :8], y[:, :8], atol=0, rtol=0)
    assert not torch.allclose(y_changed[:, 8:12], y[:, 8:12])


@pytest.mark.parametrize("kind", ["abs", "rel", "local"])
def test_frames_beyond_left_context_do_not_matter(kind: str) -> None:
    attn = _attention(kind, window=8, chunk=4, left_context=6)
    x, x_lens = _batch([24])
    changed = x.clone()
    changed[:, :10] = torch.randn(1, 10, WIDTH)  # chunk 4 (frames 16-19) sees frames 10-19
    with torch.no_grad():
        y, y_changed = attn(x, x_lens), attn(changed, x_lens)
    torch.testing.assert_close(y_changed[:, 16:], y[:, 16:], atol=1e-6, rtol=0)
    assert not torch.allclose(y_changed[:, 12:16], y[:, 12:16])  # sees frames 6-15


@pytest.mark.parametrize("kind", ["abs", "rel", "local"])
@pytest.mark.parametrize("steps", [[4, 8, 4, 12, 3], [8, 8, 8, 7], [31]])
def test_step_matches_forward(kind: str, steps: list[int]) -> None:
    attn = _attention(kind, window=3, chunk=4, left_context=6)
    x, x_lens = _batch([31, 31])
    with torch.no_grad():
        full = attn(x, x_lens)
        state, outs, start = attn.initial_state(2), [], 0
        for size in steps:
            out, state = attn.step(x[:, start : start + size], state)
            outs.append(out)
            start += size
    assert state[2] == 31 and state[0].shape == (2, HEADS, 6, WIDTH // HEADS)
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=1e-5, rtol=0)


def test_step_must_start_on_a_chunk_boundary() -> None:
    attn = _attention("abs", chunk=4, left_context=6)
    x, _ = _batch([12])
    _, state = attn.step(x[:, :3], attn.initial_state(1))
    with pytest.raises(ValueError, match="x.shape\\[1\\]=4"):
        attn.step(x[:, 3:7], state)


def test_empty_utterance_gives_zeros_and_finite_gradients() -> None:
    attn = _attention("rel", chunk=4, left_context=6).train()
    x, x_lens = _batch([9, 0])
    x.requires_grad_(True)
    y = attn(x, x_lens)
    assert y[1].abs().max() == 0
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in attn.parameters())


# --- MACs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["abs", "rel", "local", "linear"])
@pytest.mark.parametrize("stream", STREAMING, ids=["full", "c4-l6", "c3-l0"])
def test_macs_match_hooks(kind: str, stream: dict[str, int]) -> None:
    if kind == "linear" and stream:
        pytest.skip("linear attention does not stream")
    attn = _attention(kind, window=2, **stream)
    for frames in (1, 5, 13, 50):
        x, x_lens = _batch([frames])
        assert attn.macs(frames) == count_macs(attn, x, x_lens), frames


def test_local_attention_is_cheaper_than_full() -> None:
    full, local = _attention("abs"), _attention("local", window=4)
    assert local.macs(200) < full.macs(200) // 2
    assert local.macs(5) == full.macs(5)  # a window wider than the utterance: one dense block


# --- argument checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heads": 3}, "heads=3"),
        ({"kind": "sparse"}, "kind='sparse'"),
        ({"window": 0}, "window=0"),
        ({"chunk": 0, "left_context": 2}, "chunk=0"),
        ({"chunk": 4}, "left_context=None"),
        ({"left_context": 4}, "left_context=4"),
        ({"chunk": 4, "left_context": -1}, "left_context=-1"),
        ({"kind": "linear", "chunk": 4, "left_context": 2}, "chunk=4"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_self_attention_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"width": 16, "heads": 4, "kind": "abs"}
    with pytest.raises(ValueError, match=match):
        SelfAttention(**{**args, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("family", ["conformer", "transformer"])
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"causal": True}, "causal=True"),
        ({"causal": True, "chunk": 4}, "causal=True"),
        ({"chunk": 4, "left_context": 2}, "causal=False"),
        ({"attention": "linear", "causal": True, "chunk": 4, "left_context": 2}, "linear"),
        ({"attention": "full"}, "attention='full'"),
        ({"ffn_expansion": 0.0}, "ffn_expansion=0.0"),
        ({"in_width": 0}, "in_width=0"),
        ({"heads": 5}, "heads=5"),
        ({"norm": "group"}, "norm='group'"),
        ({"activation": "tanh"}, "activation='tanh'"),
        ({"dropout": -0.1}, "dropout=-0.1"),
    ],
)
def test_layers_reject_bad_arguments(family: str, kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "in_width": 16,
        "width": 16,
        "heads": 4,
        "ffn_expansion": 2.0,
        "activation": "swish",
        "norm": "layernorm",
        "attention": "rel",
    }
    with pytest.raises(ValueError, match=match):
        if family == "conformer":
            ConformerLayer(**{**args, "kernel": 3, **kwargs})  # type: ignore[arg-type]
        else:
            TransformerLayer(**{**args, **kwargs})  # type: ignore[arg-type]


def test_conformer_rejects_even_kernel_without_causal() -> None:
    with pytest.raises(ValueError, match="kernel=4"):
        ConformerLayer(
            in_width=8,
            width=8,
            heads=2,
            kernel=4,
            ffn_expansion=1.0,
            activation="relu",
            norm="batchnorm",
            attention="abs",
        )
