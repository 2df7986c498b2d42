"""The :class:`~speechnas.models._layer.EncoderLayer` contract, run on every layer family.

To add a family, append ``(id, factory)`` pairs to ``LAYERS``: a factory takes ``causal`` and
returns a fresh layer (it may ignore ``causal``). Every layer is checked built both ways; the
streaming and causality checks run on the layers whose ``initial_state`` does not raise
``NotImplementedError``. A layer with ``step_multiple > 1`` (chunked attention) is streamed in
multiples of it, and its outputs may read ahead to the end of their step.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from speechnas.models._layer import EncoderLayer
from speechnas.models.cnn import CNNBlock
from speechnas.models.conformer import ConformerLayer
from speechnas.models.lstm import CNNLSTMLayer, LSTMLayer
from speechnas.models.transformer import TransformerLayer
from speechnas.testing.mac_hooks import count_macs

LayerFactory = Callable[[bool], EncoderLayer]


def _conformer(
    attention: str,
    *,
    width: int = 16,
    kernel: int = 3,
    norm: str = "batchnorm",
    dropout: float = 0.0,
    block: str = "full",
) -> LayerFactory:
    def build(causal: bool) -> EncoderLayer:
        streams = causal and attention != "linear"  # linear attention does not stream
        return ConformerLayer(
            in_width=16,
            width=width,
            heads=4,
            kernel=kernel,
            ffn_expansion=2.0,
            activation="swish",
            norm=norm,
            attention=attention,
            window=3,
            causal=streams,
            chunk=4 if streams else None,
            left_context=6 if streams else None,
            dropout=dropout,
            block=block,
        )

    return build


def _transformer(
    attention: str,
    *,
    in_width: int = 16,
    width: int = 16,
    norm: str = "layernorm",
    dropout: float = 0.0,
) -> LayerFactory:
    def build(causal: bool) -> EncoderLayer:
        streams = causal and attention != "linear"  # linear attention does not stream
        return TransformerLayer(
            in_width=in_width,
            width=width,
            heads=2,
            ffn_expansion=1.5,
            activation="gelu",
            norm=norm,
            attention=attention,
            window=3,
            causal=streams,
            chunk=4 if streams else None,
            left_context=6 if streams else None,
            dropout=dropout,
        )

    return build


LAYERS: list[tuple[str, LayerFactory]] = [
    ("lstm-16-24", lambda causal: LSTMLayer(in_width=16, width=24, bidirectional=False)),
    (
        "lstm-16-16-dropout",
        lambda causal: LSTMLayer(in_width=16, width=16, bidirectional=False, dropout=0.1),
    ),
    ("blstm-16-24", lambda causal: LSTMLayer(in_width=16, width=24, bidirectional=True)),
    ("blstm-16-16", lambda causal: LSTMLayer(in_width=16, width=16, bidirectional=True)),
    (
        "cnn_lstm-16-24-k3-ln",
        lambda causal: CNNLSTMLayer(
            in_width=16, width=24, kernel=3, activation="swish", norm="layernorm", causal=causal
        ),
    ),
    (
        "cnn_lstm-16-16-k5-bn",
        lambda causal: CNNLSTMLayer(
            in_width=16,
            width=16,
            kernel=5,
            activation="relu",
            norm="batchnorm",
            causal=causal,
            dropout=0.1,
        ),
    ),
    (
        "cnn-16-24-k3-bn",
        lambda causal: CNNBlock(
            in_width=16, width=24, kernel=3, activation="swish", norm="batchnorm", causal=causal
        ),
    ),
    (
        "cnn-24-24-k5-ln-r3",
        lambda causal: CNNBlock(
            in_width=24,
            width=24,
            kernel=5,
            activation="gelu",
            norm="layernorm",
            causal=causal,
            dropout=0.1,
            repeats=3,
        ),
    ),
    ("conformer-abs-16-24-bn", _conformer("abs", width=24)),
    ("conformer-rel-16-16-bn-dropout", _conformer("rel", dropout=0.1)),
    ("conformer-local-16-16-ln-k5", _conformer("local", norm="layernorm", kernel=5)),
    ("conformer-linear-16-24-ln", _conformer("linear", width=24, norm="layernorm")),
    ("conformer-rel-16-24-bn-attention-block", _conformer("rel", width=24, block="attention")),
    ("conformer-rel-16-16-bn-conv-block", _conformer("rel", kernel=5, block="conv")),
    ("transformer-abs-16-16-ln", _transformer("abs")),
    ("transformer-rel-16-24-bn", _transformer("rel", width=24, norm="batchnorm")),
    ("transformer-local-24-24-bn", _transformer("local", in_width=24, width=24, norm="batchnorm")),
    ("transformer-linear-16-24-ln-dropout", _transformer("linear", width=24, dropout=0.1)),
]

CHUNKS = [5, 8, 1, 23]  # 37 frames


def _chunk_sizes(total: int, multiple: int) -> list[int]:
    """``CHUNKS``, or for ``step_multiple > 1`` varied multiples of it and a short last one."""
    if multiple == 1:
        return CHUNKS
    sizes: list[int] = []
    for k in itertools.cycle((1, 2, 1, 3)):
        left = total - sum(sizes)
        if left == 0:
            return sizes
        size = k * multiple if k * multiple <= left else left // multiple * multiple or left
        sizes.append(size)
    raise AssertionError("unreachable")


def _build(factory: LayerFactory, causal: bool) -> EncoderLayer:
    """A layer in eval mode with non-trivial parameters and normalisation statistics."""
    torch.manual_seed(0)
    layer = factory(causal)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for name, buf in layer.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(0.3 * torch.randn_like(buf))
            elif name.endswith("running_var"):
                buf.copy_(0.5 + torch.rand_like(buf))
    return layer.eval()


def _streams(layer: EncoderLayer) -> bool:
    try:
        layer.initial_state(1)
    except NotImplementedError:
        return False
    return True


def _inputs(lengths: list[int], width: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A batch whose frames past each length are zero."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lengths), max(lengths), width)
    for i, n in enumerate(lengths):
        x[i, :n] = torch.randn(n, width, generator=g)
    return x, torch.tensor(lengths)


@pytest.fixture(params=[False, True], ids=["full", "causal"])
def causal(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture(params=[factory for _, factory in LAYERS], ids=[name for name, _ in LAYERS])
def layer(request: pytest.FixtureRequest, causal: bool) -> EncoderLayer:
    return _build(request.param, causal)


# Layers that stream when built causal (a BLSTM, or linear attention, never does).
STREAMING = [(name, factory) for name, factory in LAYERS if _streams(factory(True))]


@pytest.fixture(params=[factory for _, factory in STREAMING], ids=[name for name, _ in STREAMING])
def streaming_layer(request: pytest.FixtureRequest) -> EncoderLayer:
    return _build(request.param, True)


def test_shapes_and_zero_padding(layer: EncoderLayer) -> None:
    x, x_lens = _inputs([11, 6], layer.in_width)
    with torch.no_grad():
        y = layer(x, x_lens)
    assert y.shape == (2, 11, layer.width)
    assert torch.isfinite(y).all()
    assert y[1, 6:].abs().max() == 0


def test_padding_invariance(layer: EncoderLayer) -> None:
    short, _ = _inputs([13], layer.in_width, seed=1)
    long, _ = _inputs([29], layer.in_width, seed=2)
    with torch.no_grad():
        alone = layer(short, torch.tensor([13]))
        for first in (True, False):
            pair = [short[0], long[0]] if first else [long[0], short[0]]
            x = torch.nn.utils.rnn.pad_sequence(pair, batch_first=True)
            lens = torch.tensor([13, 29] if first else [29, 13])
            y = layer(x, lens)[0 if first else 1, :13]
            torch.testing.assert_close(y, alone[0], atol=1e-5, rtol=0)


def test_backward_reaches_every_parameter(layer: EncoderLayer) -> None:
    layer.train()
    x, x_lens = _inputs([9, 5], layer.in_width)
    layer(x, x_lens).square().sum().backward()
    missing = [n for n, p in layer.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def _stream(layer: EncoderLayer, x: Tensor, chunks: list[int]) -> Tensor:
    state = layer.initial_state(x.shape[0])
    outs, start = [], 0
    for size in chunks:
        out, state = layer.step(x[:, start : start + size], state)
        outs.append(out)
        start += size
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_streaming_matches_forward(streaming_layer: EncoderLayer, batch_size: int) -> None:
    x, x_lens = _inputs([37] * batch_size, streaming_layer.in_width)
    with torch.no_grad():
        full = streaming_layer(x, x_lens)
        chunks = _chunk_sizes(37, streaming_layer.step_multiple)
        streamed = _stream(streaming_layer, x, chunks)
    torch.testing.assert_close(streamed, full, atol=1e-4, rtol=0)


def test_causality(streaming_layer: EncoderLayer) -> None:
    x, x_lens = _inputs([37], streaming_layer.in_width)
    m = streaming_layer.step_multiple
    # A frame's output may read ahead to the end of its step (its attention chunk).
    for t in sorted({-(-(frame + 1) // m) * m - 1 for frame in (0, 12, 35)}):
        changed = x.clone()
        changed[:, t + 1 :] = torch.randn_like(changed[:, t + 1 :])
        with torch.no_grad():
            y, y_changed = streaming_layer(x, x_lens), streaming_layer(changed, x_lens)
        torch.testing.assert_close(y_changed[:, : t + 1], y[:, : t + 1], atol=1e-6, rtol=0)


def test_macs_match_hooks(layer: EncoderLayer) -> None:
    x, x_lens = _inputs([50], layer.in_width)
    assert layer.macs(50) == count_macs(layer, x, x_lens)


def test_activation_elements_bound(layer: EncoderLayer) -> None:
    for t in (1, 50):
        assert layer.activation_elements(t) >= (layer.in_width + layer.width) * t > 0


# --- family-specific argument checks ----------------------------------------------------


def test_blstm_needs_even_width() -> None:
    with pytest.raises(ValueError, match="width=15"):
        LSTMLayer(in_width=8, width=15, bidirectional=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, "width=0"),
        ({"repeats": 0}, "repeats=0"),
        ({"se_reduction": 0}, "se_reduction=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"kernel": 4}, "kernel=4"),
        ({"norm": "group"}, "norm='group'"),
        ({"activation": "tanh"}, "activation='tanh'"),
    ],
)
def test_cnn_block_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "in_width": 8,
        "width": 8,
        "kernel": 3,
        "activation": "relu",
        "norm": "layernorm",
        "causal": False,
    }
    with pytest.raises(ValueError, match=match):
        CNNBlock(**{**args, **kwargs})  # type: ignore[arg-type]


def test_cnn_lstm_rejects_bad_dropout() -> None:
    with pytest.raises(ValueError, match="dropout=-0.1"):
        CNNLSTMLayer(
            in_width=8,
            width=8,
            kernel=3,
            activation="relu",
            norm="layernorm",
            causal=True,
            dropout=-0.1,
        )


def test_empty_utterance_gives_zero_output() -> None:
    layer = _build(LAYERS[0][1], False)
    x, _ = _inputs([4, 4], layer.in_width)
    with torch.no_grad():
        y = layer(x, torch.tensor([4, 0]))
    assert y[1].abs().max() == 0
