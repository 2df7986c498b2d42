"""``build_model``: the one place an :class:`~speechnas.arch.ArchSpec` becomes a module.

Per encoder family, a factory turns a :class:`~speechnas.arch.LayerSpec` into an
:class:`~speechnas.models._layer.EncoderLayer`; the stem, the optional look-ahead and
mid-encoder reduction, and the head follow from the spec's other fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from speechnas.arch import ATTENTION_ENCODERS, ArchSpec, LayerSpec
from speechnas.features import SpecAugment, build_frontend
from speechnas.models._head import Head
from speechnas.models._layer import EncoderLayer
from speechnas.models.aed import AEDHead
from speechnas.models.cnn import CNNBlock
from speechnas.models.conformer import ConformerLayer
from speechnas.models.ctc import CTCHead
from speechnas.models.encoder import Encoder
from speechnas.models.lstm import CNNLSTMLayer, LSTMLayer
from speechnas.models.model import SpeechModel
from speechnas.models.rnnt import RNNTHead
from speechnas.models.subsampling import (
    Conv1dSubsampling,
    Conv2dSubsampling,
    Lookahead,
    PairReduction,
)
from speechnas.models.transformer import TransformerLayer

__all__ = [
    "LAYER_FACTORIES",
    "LayerBuilder",
    "LayerContext",
    "build_encoder",
    "build_head",
    "build_model",
]


@dataclass(frozen=True)
class LayerContext:
    """What a layer needs besides its :class:`LayerSpec`.

    Attributes:
        in_width: width of the layer's input.
        causal: build for streaming.
        chunk, left_context: attention chunking in this layer's frames (streaming only).
    """

    spec: ArchSpec
    in_width: int
    causal: bool
    chunk: int | None
    left_context: int | None


def _conformer(layer: LayerSpec, ctx: LayerContext) -> EncoderLayer:
    return ConformerLayer(
        in_width=ctx.in_width,
        width=layer.width,
        heads=layer.heads,
        kernel=layer.kernel,
        ffn_expansion=layer.ffn_expansion,
        activation=layer.activation,
        norm=layer.norm,
        attention=ctx.spec.attention,
        window=ctx.spec.attention_window,
        causal=ctx.causal,
        chunk=ctx.chunk,
        left_context=ctx.left_context,
        dropout=ctx.spec.dropout,
        block=layer.block,
    )


def _transformer(layer: LayerSpec, ctx: LayerContext) -> EncoderLayer:
    return TransformerLayer(
        in_width=ctx.in_width,
        width=layer.width,
        heads=layer.heads,
        ffn_expansion=layer.ffn_expansion,
        activation=layer.activation,
        norm=layer.norm,
        attention=ctx.spec.attention,
        window=ctx.spec.attention_window,
        causal=ctx.causal,
        chunk=ctx.chunk,
        left_context=ctx.left_context,
        dropout=ctx.spec.dropout,
    )


def _lstm(layer: LayerSpec, ctx: LayerContext) -> EncoderLayer:
    return LSTMLayer(
        in_width=ctx.in_width, width=layer.width, bidirectional=False, dropout=ctx.spec.dropout
    )


def _blstm(layer: LayerSpec, ctx: LayerContext) -> EncoderLayer:
    return LSTMLayer(
        in_width=ctx.in_width, width=layer.width, bidirectional=True, dropout=ctx.spec.dropout
    )


def _cnn_lstm(layer: LayerSpec, ctx: LayerContext) -> EncoderLayer:
    return CNNLSTMLayer(
        in_width=ctx.in_width,
        width=layer.width,
        kernel=layer.kernel,
        activation=layer.activation,
        norm=layer.norm,
        causal=ctx.causal,
        dropout=ctx.spec.dropout,
    )


def _cnn(layer: LayerSpec, ctx: LayerContext) -> EncoderLayer:
    return CNNBlock(
        in_width=ctx.in_width,
        width=layer.width,
        kernel=layer.kernel,
        activation=layer.activation,
        norm=layer.norm,
        causal=ctx.causal,
        dropout=ctx.spec.dropout,
    )


#: Encoder family -> layer factory.
LAYER_FACTORIES: dict[str, Callable[[LayerSpec, LayerContext], EncoderLayer]] = {
    "conformer": _conformer,
    "transformer": _transformer,
    "lstm": _lstm,
    "blstm": _blstm,
    "cnn_lstm": _cnn_lstm,
    "cnn": _cnn,
}


#: Builds the ``i``-th kept layer from its spec and context (the default: the family's
#: factory in :data:`LAYER_FACTORIES`; a differentiable search builds mixed layers instead).
LayerBuilder = Callable[[int, LayerSpec, LayerContext], EncoderLayer]


def build_encoder(
    spec: ArchSpec, *, in_features: int, layer_builder: LayerBuilder | None = None
) -> Encoder:
    """The encoder of ``spec`` for ``in_features`` features per frame."""
    layers_spec = spec.kept_layers
    first = layers_spec[0].width
    stem_cls = Conv2dSubsampling if spec.subsampling == "conv2d" else Conv1dSubsampling
    causal = spec.streaming is not None
    stem = stem_cls(
        in_features=in_features,
        width=first,
        factor=spec.stem_factor,
        channels=spec.subsampling_channels,
        causal=causal,
    )
    at = spec.reduction_position
    layers: list[EncoderLayer] = []
    in_width = first
    for i, layer in enumerate(layers_spec):
        chunk = left = None
        if spec.streaming is not None and spec.encoder in ATTENTION_ENCODERS:
            # Before the mid-encoder reduction frames are twice as dense.
            rate = 2 if at and i < at else 1
            chunk = spec.streaming.chunk * rate
            left = spec.streaming.left_context * rate
        ctx = LayerContext(spec, in_width, causal, chunk, left)
        if layer_builder is None:
            layers.append(LAYER_FACTORIES[spec.encoder](layer, ctx))
        else:
            layers.append(layer_builder(i, layer, ctx))
        in_width = layer.width
    reduction = PairReduction(layers_spec[at - 1].width) if at else None
    lookahead = None
    if spec.streaming is not None and spec.streaming.lookahead:
        lookahead = Lookahead(first, spec.streaming.lookahead)
    return Encoder(
        stem=stem,
        layers=layers,
        reduction=reduction,
        reduction_at=at,
        lookahead=lookahead,
        positions=spec.uses_attention and spec.attention != "rel",
        dropout=spec.dropout,
        chunk=spec.streaming.chunk if spec.streaming is not None else None,
    )


def build_head(spec: ArchSpec, *, vocab_size: int) -> Head:
    """The output head of ``spec`` over ``vocab_size`` tokens (id 0 reserved)."""
    dec = spec.decoder
    width = spec.output_width
    if dec.kind == "ctc":
        return CTCHead(d_model=width, vocab_size=vocab_size)
    if dec.kind == "rnnt":
        return RNNTHead(
            d_model=width,
            vocab_size=vocab_size,
            predictor=dec.predictor,
            dim=dec.dim,
            dropout=spec.dropout,
        )
    return AEDHead(
        d_model=width,
        vocab_size=vocab_size,
        decoder="lstm" if dec.kind == "aed_lstm" else "transformer",
        dim=dec.dim,
        num_layers=dec.num_layers,
        heads=dec.heads,
        ctc_weight=dec.ctc_weight,
        dropout=spec.dropout,
    )


def build_model(
    spec: ArchSpec,
    *,
    vocab_size: int,
    specaugment: bool = True,
    layer_builder: LayerBuilder | None = None,
) -> SpeechModel:
    """Build the model that ``spec`` describes, with ``vocab_size`` output tokens.

    Args:
        spec: The architecture.
        vocab_size: Output tokens including the reserved id 0.
        specaugment: Add SpecAugment (active in training mode only).
        layer_builder: Builds each kept layer instead of the family's factory.
    """
    # A streaming model cannot normalise over the whole utterance; its features stay raw.
    normalize = "none" if spec.streaming is not None else "utterance"
    frontend = build_frontend(spec.frontend, n_mels=spec.n_mels, normalize=normalize)
    return SpeechModel(
        frontend=frontend,
        encoder=build_encoder(
            spec, in_features=frontend.num_features, layer_builder=layer_builder
        ),
        head=build_head(spec, vocab_size=vocab_size),
        specaugment=SpecAugment() if specaugment else None,
    )
