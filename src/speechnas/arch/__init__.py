"""``ArchSpec``: a speech architecture as data.

A spec is a frozen, JSON-serialisable dataclass, validated on construction. Strategies, stores
and reports handle specs only; :func:`speechnas.models.build_model` is the one place a spec
becomes an ``nn.Module``. This module never imports torch.

Structure: a front-end, a convolutional subsampling stem, an encoder of one family whose layers
may each differ (:class:`LayerSpec`; a layer with ``skip=True`` is the identity, which is how
depth is searched), an optional mid-encoder time reduction, an optional streaming configuration
(:class:`StreamingSpec`) and an output head (:class:`DecoderSpec`).

Which fields matter depends on others: a kernel size means nothing to an LSTM layer, a skipped
layer has no parameters at all, an attention type means nothing to a CNN.
:meth:`ArchSpec.canonical` keeps only the active fields (and drops skipped layers), and
:attr:`ArchSpec.arch_id` hashes that, so two specs that differ only in switched-off parts are
one architecture.

Example:
    >>> spec = ArchSpec.uniform(num_layers=2, width=96, heads=4)
    >>> ArchSpec.from_json(spec.to_json()) == spec
    True
    >>> spec.arch_id == spec.with_layer(0, kernel=spec.layers[0].kernel).arch_id
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "ATTENTIONS",
    "ATTENTION_ENCODERS",
    "DECODERS",
    "ENCODERS",
    "FRONTENDS",
    "NORMS",
    "PREDICTORS",
    "STREAMING_DECODERS",
    "SUBSAMPLINGS",
    "TOTAL_FACTORS",
    "BLOCKS",
    "ArchSpec",
    "DecoderSpec",
    "LayerSpec",
    "StreamingSpec",
    "active_layer_fields",
    "layer_identity",
]

FRONTENDS = ("logmel", "mfcc", "learnable")
SUBSAMPLINGS = ("conv2d", "conv1d")
#: Total time reductions of the encoder (stem times the optional mid-encoder reduction).
TOTAL_FACTORS = (2, 4, 6, 8)
ENCODERS = ("conformer", "transformer", "lstm", "blstm", "cnn_lstm", "cnn")
#: Families whose layers contain self-attention (they use ``attention`` and ``heads``).
ATTENTION_ENCODERS = ("conformer", "transformer")
#: ``abs``: multi-head attention, absolute sinusoidal positions; ``rel``: relative positional
#: (Transformer-XL / Conformer); ``local``: windowed to ``attention_window`` frames each side;
#: ``linear``: efficient kernelised (elu + 1) attention, linear in length.
ATTENTIONS = ("abs", "rel", "local", "linear")
ACTIVATIONS = ("swish", "gelu", "relu")
#: Conformer blocks: attention and convolution modules, attention only, or convolution only.
BLOCKS = ("full", "attention", "conv")
NORMS = ("layernorm", "batchnorm")
DECODERS = ("ctc", "rnnt", "aed_lstm", "aed_transformer")
#: Heads that can emit while audio arrives (an attention decoder needs the whole utterance).
STREAMING_DECODERS = ("ctc", "rnnt")
PREDICTORS = ("lstm", "stateless")

_BASE_FRAME_MS = 10  # the front-end hop

# Per family, the LayerSpec fields its layers use (``skip`` is always active).
_LAYER_FIELDS: dict[str, tuple[str, ...]] = {
    "conformer": ("width", "kernel", "heads", "ffn_expansion", "activation", "norm", "block"),
    "transformer": ("width", "heads", "ffn_expansion", "activation", "norm"),
    "lstm": ("width",),
    "blstm": ("width",),
    "cnn_lstm": ("width", "kernel", "activation", "norm"),
    "cnn": ("width", "kernel", "activation", "norm"),
}


def active_layer_fields(encoder: str) -> tuple[str, ...]:
    """The :class:`LayerSpec` fields that layers of the ``encoder`` family use."""
    if encoder not in _LAYER_FIELDS:
        raise ValueError(f"encoder={encoder!r} is invalid; expected one of {ENCODERS}")
    return _LAYER_FIELDS[encoder]


def layer_identity(encoder: str, layer: LayerSpec) -> dict[str, Any]:
    """The fields that make ``layer`` what it is in an ``encoder`` family: the family's active
    fields, less those its block does not use (a ``conv`` block's heads, an ``attention``
    block's kernel). ``block`` itself appears only when it is not ``full``, so architectures
    without block choices keep the identity they had before blocks existed."""
    fields = active_layer_fields(encoder)
    out = {f: getattr(layer, f) for f in fields}
    if "block" in out:
        if layer.block == "full":
            del out["block"]
        elif layer.block == "conv":
            del out["heads"]
        else:
            del out["kernel"]
    return out


def _invalid(where: str, value: object, expected: str) -> ValueError:
    return ValueError(f"{where}={value!r} is invalid; expected {expected}")


def _check_int(where: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _invalid(where, value, f"an integer >= {minimum}")


def _check_choice(where: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _invalid(where, value, f"one of {choices}")


@dataclass(frozen=True)
class LayerSpec:
    """One encoder layer.

    Attributes:
        width: Output width of the layer (for BLSTM: both directions together, so even).
        kernel: Convolution kernel in frames (odd): the Conformer convolution module, the
            CNN-LSTM front convolution, the CNN block's depthwise convolutions.
        heads: Attention heads; in attention families they must divide ``width``.
        ffn_expansion: Feed-forward hidden size as a multiple of ``width``.
        activation: ``swish``, ``gelu`` or ``relu``.
        norm: ``layernorm`` or ``batchnorm`` (length-masked) for the layer's normalisations.
        skip: The layer is the identity and has no parameters.
        block: Conformer layers: ``full`` (feed-forwards around attention and convolution),
            ``attention`` (no convolution module) or ``conv`` (no attention module).
    """

    width: int = 144
    kernel: int = 15
    heads: int = 4
    ffn_expansion: float = 4.0
    activation: str = "swish"
    norm: str = "layernorm"
    skip: bool = False
    block: str = "full"

    def validate(self, where: str = "LayerSpec") -> None:
        """Raise ``ValueError`` naming the field and value of the first invalid field."""
        _check_int(f"{where}.width", self.width, 8)
        _check_int(f"{where}.kernel", self.kernel, 1)
        if self.kernel % 2 == 0:
            raise _invalid(f"{where}.kernel", self.kernel, "an odd kernel size")
        _check_int(f"{where}.heads", self.heads, 1)
        if isinstance(self.ffn_expansion, bool) or not self.ffn_expansion > 0:
            raise _invalid(f"{where}.ffn_expansion", self.ffn_expansion, "a number > 0")
        _check_choice(f"{where}.activation", self.activation, ACTIVATIONS)
        _check_choice(f"{where}.norm", self.norm, NORMS)
        if not isinstance(self.skip, bool):
            raise _invalid(f"{where}.skip", self.skip, "true or false")
        _check_choice(f"{where}.block", self.block, BLOCKS)

    def __post_init__(self) -> None:
        self.validate()


@dataclass(frozen=True)
class StreamingSpec:
    """Streaming (chunk by chunk) operation. Frames are encoder-output frames.

    Attributes:
        chunk: Frames per chunk; attention sees its whole chunk (attention families only).
        left_context: Frames before the chunk that attention may see (attention families).
        lookahead: Future frames a look-ahead convolution after the stem reads (every family).
    """

    chunk: int = 8
    left_context: int = 32
    lookahead: int = 0

    def __post_init__(self) -> None:
        _check_int("StreamingSpec.chunk", self.chunk, 1)
        _check_int("StreamingSpec.left_context", self.left_context, 0)
        _check_int("StreamingSpec.lookahead", self.lookahead, 0)


@dataclass(frozen=True)
class DecoderSpec:
    """The output head.

    Attributes:
        kind: ``ctc``; ``rnnt`` (transducer); ``aed_lstm`` or ``aed_transformer`` (attention
            encoder-decoder with an auxiliary CTC loss).
        predictor: RNN-T prediction network: ``lstm`` or ``stateless`` (last-tokens embedding).
        dim: Width of the RNN-T predictor and joiner, or of the attention decoder.
        num_layers: Attention decoder layers.
        heads: Attention heads of the Transformer decoder (must divide ``dim``).
        ctc_weight: Weight of the auxiliary CTC loss of an attention decoder, in [0, 1).
    """

    kind: str = "ctc"
    predictor: str = "lstm"
    dim: int = 256
    num_layers: int = 1
    heads: int = 4
    ctc_weight: float = 0.3

    def __post_init__(self) -> None:
        _check_choice("DecoderSpec.kind", self.kind, DECODERS)
        _check_choice("DecoderSpec.predictor", self.predictor, PREDICTORS)
        _check_int("DecoderSpec.dim", self.dim, 8)
        _check_int("DecoderSpec.num_layers", self.num_layers, 1)
        _check_int("DecoderSpec.heads", self.heads, 1)
        if self.kind == "aed_transformer" and self.dim % self.heads:
            raise ValueError(
                f"DecoderSpec.heads={self.heads!r} is invalid; it must divide dim={self.dim}"
            )
        if not 0.0 <= self.ctc_weight < 1.0:
            raise _invalid("DecoderSpec.ctc_weight", self.ctc_weight, "a number in [0, 1)")

    def active(self) -> dict[str, Any]:
        """The fields this kind of head uses."""
        if self.kind == "ctc":
            return {"kind": self.kind}
        if self.kind == "rnnt":
            return {"kind": self.kind, "predictor": self.predictor, "dim": self.dim}
        out: dict[str, Any] = {
            "kind": self.kind,
            "dim": self.dim,
            "num_layers": self.num_layers,
            "ctc_weight": self.ctc_weight,
        }
        if self.kind == "aed_transformer":
            out["heads"] = self.heads
        return out


def _default_layers() -> tuple[LayerSpec, ...]:
    return (LayerSpec(),) * 4


@dataclass(frozen=True)
class ArchSpec:
    """A speech recognition architecture.

    Attributes:
        frontend: ``logmel``, ``mfcc`` or ``learnable``.
        n_mels: Mel bands of the front-end.
        subsampling: Stem type, ``conv2d`` (over time and frequency) or ``conv1d`` (over time).
        subsampling_factor: Total time reduction of the encoder, one of 2, 4, 6, 8.
        subsampling_channels: Channels of the stem convolutions.
        time_reduction_layer: ``0``: the stem reduces time by the whole factor. ``k > 0``: the
            stem reduces by half the factor and a stride-2 reduction sits before layer ``k``
            (an index into ``layers``); there must be a kept layer on each side of it.
        encoder: Encoder family, one of ``ENCODERS``.
        attention: Self-attention type of attention families, one of ``ATTENTIONS``.
        attention_window: Frames each side that ``local`` attention sees.
        layers: The encoder layers, first to last.
        streaming: ``None`` for full-context, else the chunking that makes it streamable.
        decoder: The output head.
        dropout: Dropout probability in training.
    """

    frontend: str = "logmel"
    n_mels: int = 80
    subsampling: str = "conv2d"
    subsampling_factor: int = 4
    subsampling_channels: int = 32
    time_reduction_layer: int = 0
    encoder: str = "conformer"
    attention: str = "rel"
    attention_window: int = 16
    layers: tuple[LayerSpec, ...] = field(default_factory=_default_layers)
    streaming: StreamingSpec | None = None
    decoder: DecoderSpec = field(default_factory=DecoderSpec)
    dropout: float = 0.1

    def __post_init__(self) -> None:
        # Nested specs may arrive as mappings (JSON); freeze them into dataclasses.
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        self._validate()

    def _validate(self) -> None:
        _check_choice("ArchSpec.frontend", self.frontend, FRONTENDS)
        _check_int("ArchSpec.n_mels", self.n_mels, 1)
        _check_choice("ArchSpec.subsampling", self.subsampling, SUBSAMPLINGS)
        if self.subsampling_factor not in TOTAL_FACTORS:
            raise _invalid(
                "ArchSpec.subsampling_factor", self.subsampling_factor, f"one of {TOTAL_FACTORS}"
            )
        _check_int("ArchSpec.subsampling_channels", self.subsampling_channels, 1)
        _check_choice("ArchSpec.encoder", self.encoder, ENCODERS)
        _check_choice("ArchSpec.attention", self.attention, ATTENTIONS)
        _check_int("ArchSpec.attention_window", self.attention_window, 1)
        if not 0.0 <= self.dropout < 1.0:
            raise _invalid("ArchSpec.dropout", self.dropout, "a number in [0, 1)")
        if not self.layers:
            raise _invalid("ArchSpec.layers", self.layers, "at least one layer")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, LayerSpec):
                raise _invalid(f"ArchSpec.layers[{i}]", layer, "a LayerSpec")
            if layer.skip:
                continue
            if self.encoder == "blstm" and layer.width % 2:
                raise _invalid(f"ArchSpec.layers[{i}].width", layer.width, "an even width")
            if self.uses_attention and layer.width % layer.heads:
                raise ValueError(
                    f"ArchSpec.layers[{i}].heads={layer.heads!r} is invalid; it must divide "
                    f"width={layer.width}"
                )
        kept = [i for i, layer in enumerate(self.layers) if not layer.skip]
        if not kept:
            raise _invalid("ArchSpec.layers", "all skipped", "at least one kept layer")
        k = self.time_reduction_layer
        _check_int("ArchSpec.time_reduction_layer", k, 0)
        if k and not (kept[0] < k <= kept[-1]):
            raise ValueError(
                f"ArchSpec.time_reduction_layer={k!r} is invalid; it needs a kept layer before "
                f"and at or after it (kept layers: {kept})"
            )
        if not isinstance(self.decoder, DecoderSpec):
            raise _invalid("ArchSpec.decoder", self.decoder, "a DecoderSpec")
        if self.streaming is not None:
            if not isinstance(self.streaming, StreamingSpec):
                raise _invalid("ArchSpec.streaming", self.streaming, "a StreamingSpec or null")
            if self.encoder == "blstm":
                raise ValueError(
                    "ArchSpec.encoder='blstm' is invalid with streaming: a bidirectional LSTM "
                    "reads the whole utterance"
                )
            if self.encoder in ATTENTION_ENCODERS and self.attention == "linear":
                raise ValueError(
                    "ArchSpec.attention='linear' is invalid with streaming: chunk masks make "
                    "kernelised attention quadratic; use abs, rel or local"
                )
            if self.decoder.kind not in STREAMING_DECODERS:
                raise ValueError(
                    f"ArchSpec.decoder.kind={self.decoder.kind!r} is invalid with streaming; "
                    f"expected one of {STREAMING_DECODERS}"
                )

    # --- derived facts -------------------------------------------------------------------

    @property
    def kept_layers(self) -> tuple[LayerSpec, ...]:
        """The layers that are not skipped, first to last."""
        return tuple(layer for layer in self.layers if not layer.skip)

    @property
    def stem_factor(self) -> int:
        """Time reduction of the stem alone."""
        return (
            self.subsampling_factor // 2 if self.time_reduction_layer else self.subsampling_factor
        )

    @property
    def reduction_position(self) -> int:
        """Kept layers before the mid-encoder reduction (0: no mid-encoder reduction)."""
        k = self.time_reduction_layer
        return sum(1 for layer in self.layers[:k] if not layer.skip) if k else 0

    @property
    def output_width(self) -> int:
        """Width of the encoder output."""
        return self.kept_layers[-1].width

    @property
    def frame_ms(self) -> int:
        """Duration of one encoder output frame in milliseconds."""
        return _BASE_FRAME_MS * self.subsampling_factor

    @property
    def uses_attention(self) -> bool:
        return self.encoder in ATTENTION_ENCODERS

    @property
    def algorithmic_latency_ms(self) -> float | None:
        """Look-ahead plus chunk, in milliseconds; ``None`` for a full-context model.

        Attention families wait for their whole chunk; the other families emit every output
        frame as soon as it and its look-ahead have arrived.
        """
        if self.streaming is None:
            return None
        chunk = self.streaming.chunk if self.uses_attention else 1
        return float((chunk + self.streaming.lookahead) * self.frame_ms)

    def summary(self) -> str:
        """One line for tables and logs.

        Example: ``conformer x6 w144 rel · logmel80 conv2d/4 · ctc``.
        """
        kept = self.kept_layers
        widths = sorted({lay.width for lay in kept})
        width = f"w{widths[0]}" if len(widths) == 1 else f"w{widths[0]}-{widths[-1]}"
        enc = f"{self.encoder} x{len(kept)} {width}"
        if self.uses_attention:
            enc += f" {self.attention}"
        stem = f"{self.frontend}{self.n_mels} {self.subsampling}/{self.subsampling_factor}"
        if self.time_reduction_layer:
            stem += f" (2x before layer {self.reduction_position})"
        parts = [enc, stem, self.decoder.kind]
        if self.algorithmic_latency_ms is not None:
            parts.append(f"streaming {self.algorithmic_latency_ms:.0f} ms")
        return " · ".join(parts)

    # --- identity ------------------------------------------------------------------------

    def canonical(self) -> dict[str, Any]:
        """The active parameters only: kept layers with their family's fields, and only
        the attention, streaming and decoder fields this architecture uses."""
        out: dict[str, Any] = {
            "frontend": self.frontend,
            "n_mels": self.n_mels,
            "subsampling": self.subsampling,
            "subsampling_factor": self.subsampling_factor,
            "subsampling_channels": self.subsampling_channels,
            "reduction_position": self.reduction_position,
            "encoder": self.encoder,
            "layers": [layer_identity(self.encoder, lay) for lay in self.kept_layers],
            "decoder": self.decoder.active(),
            "dropout": self.dropout,
        }
        if self.uses_attention:
            out["attention"] = self.attention
            if self.attention == "local":
                out["attention_window"] = self.attention_window
        if self.streaming is not None:
            stream: dict[str, Any] = {"lookahead": self.streaming.lookahead}
            if self.uses_attention:
                stream["chunk"] = self.streaming.chunk
                stream["left_context"] = self.streaming.left_context
            out["streaming"] = stream
        return out

    @property
    def arch_id(self) -> str:
        """16 hex digits of the SHA-256 of :meth:`canonical`: specs that differ only in
        inactive fields share an id."""
        text = json.dumps(self.canonical(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # --- construction and serialisation --------------------------------------------------

    @classmethod
    def uniform(
        cls,
        *,
        num_layers: int,
        width: int = 144,
        kernel: int = 15,
        heads: int = 4,
        ffn_expansion: float = 4.0,
        activation: str = "swish",
        norm: str = "layernorm",
        **kwargs: Any,
    ) -> ArchSpec:
        """A spec whose ``num_layers`` layers are all alike; other fields via ``kwargs``."""
        _check_int("num_layers", num_layers, 1)
        layer = LayerSpec(
            width=width,
            kernel=kernel,
            heads=heads,
            ffn_expansion=ffn_expansion,
            activation=activation,
            norm=norm,
        )
        return cls(layers=(layer,) * num_layers, **kwargs)

    def with_layer(self, index: int, **changes: Any) -> ArchSpec:
        """A copy with ``layers[index]`` changed."""
        layers = list(self.layers)
        layers[index] = dataclasses.replace(layers[index], **changes)
        return dataclasses.replace(self, layers=tuple(layers))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        data = dict(data)
        _reject_unknown(cls, data, "ArchSpec")
        if "layers" in data:
            layers = data["layers"]
            if not isinstance(layers, list | tuple):
                raise _invalid("ArchSpec.layers", layers, "a list of layers")
            data["layers"] = tuple(
                _nested(LayerSpec, lay, f"ArchSpec.layers[{i}]") for i, lay in enumerate(layers)
            )
        if data.get("streaming") is not None:
            data["streaming"] = _nested(StreamingSpec, data["streaming"], "ArchSpec.streaming")
        if "decoder" in data:
            data["decoder"] = _nested(DecoderSpec, data["decoder"], "ArchSpec.decoder")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        return cls.from_dict(json.loads(text))


def _reject_unknown(cls: type, data: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")


def _nested(cls: type[Any], value: Any, where: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise _invalid(where, value, "a mapping")
    _reject_unknown(cls, value, where)
    try:
        return cls(**value)
    except ValueError as e:
        raise ValueError(str(e).replace(cls.__name__, where, 1)) from e
