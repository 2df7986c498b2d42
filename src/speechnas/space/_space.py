"""``SpeechSpace``: the set of architectures a search may propose.

Pure Python (no torch). A space lists the choices of every dimension; an architecture of the
space is an :class:`~speechnas.arch.ArchSpec` whose active values are all among those choices,
with between ``min_layers`` and ``max_layers`` kept layers.

Distinct architectures are distinct :meth:`ArchSpec.canonical` forms: skipped layers and
inactive fields do not make new ones. :meth:`SpeechSpace.count` counts them exactly, and
:meth:`SpeechSpace.sample` draws them uniformly, with a dynamic programme over the layers:
``ways[i][s]`` is the number of ways to fill the first ``i`` layers, where ``s`` says whether
the mid-encoder time reduction has been placed yet (it needs a layer on each side).
:meth:`SpeechSpace.spec_at` numbers the architectures through the same tables (unranking), so
sampling is ``spec_at`` of a uniform integer below ``count()``: every architecture has exactly
the same probability, with no rejection step to bias it, and a grid is ``spec_at(0), ...``.

Example:
    >>> space = SpeechSpace(encoders=("lstm",), widths=(64, 128), min_layers=1, max_layers=2,
    ...                     frontends=("logmel",), n_mels=(80,), subsamplings=("conv2d",),
    ...                     subsampling_factors=(4,), time_reduction=False, decoders=("ctc",))
    >>> space.count()  # 2 one-layer + 4 two-layer stacks
    6
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from speechnas._config_io import bounded, check_bounds
from speechnas.arch import (
    ACTIVATIONS,
    ATTENTION_ENCODERS,
    ATTENTIONS,
    BLOCKS,
    DECODERS,
    ENCODERS,
    FRONTENDS,
    NORMS,
    PREDICTORS,
    STREAMING_DECODERS,
    SUBSAMPLINGS,
    TOTAL_FACTORS,
    ArchSpec,
    DecoderSpec,
    LayerSpec,
    StreamingSpec,
    active_layer_fields,
    layer_identity,
)

__all__ = ["SpeechSpace"]

StreamingMode = Literal["off", "on", "both"]


def _randbelow(rng: np.random.Generator, n: int) -> int:
    """A uniform integer in ``[0, n)`` for any ``n >= 1``, exact even beyond 64 bits."""
    if n <= 1:
        return 0
    nbytes = (n.bit_length() + 7) // 8
    limit = (256**nbytes // n) * n  # reject the top remainder so every residue is equally likely
    while True:
        r = int.from_bytes(rng.bytes(nbytes), "big")
        if r < limit:
            return r % n


def _split(index: int, sizes: list[int]) -> tuple[int, int]:
    """``(i, rest)``: ``index`` falls in part ``i`` of consecutive parts of ``sizes``."""
    for i, size in enumerate(sizes):
        if index < size:
            return i, index
        index -= size
    raise IndexError("index beyond the sum of sizes")


@dataclass(frozen=True)
class _Block:
    """Architectures sharing an encoder family and a streaming flag."""

    encoder: str
    streaming: bool
    attentions: tuple[tuple[str, int], ...]  # (attention, window) pairs
    stream_options: tuple[StreamingSpec | None, ...]
    decoders: tuple[DecoderSpec, ...]
    layer_options: tuple[LayerSpec, ...]


@dataclass(frozen=True)
class SpeechSpace:
    """Choices for every dimension of a speech architecture.

    Attributes:
        frontends, n_mels: front-end choices.
        subsamplings: stem types (``conv2d``, ``conv1d``).
        subsampling_factors: total time reductions.
        time_reduction: allow half of the reduction to sit before any encoder layer.
        subsampling_channels: stem channels (fixed).
        encoders: encoder families.
        attentions: attention types (attention families only).
        attention_windows: frames each side for ``local`` attention.
        min_layers, max_layers: limits on the number of kept layers.
        widths, kernels, heads, ffn_expansions, activations, norms: per-layer choices (a
            family uses the fields listed by :func:`~speechnas.arch.active_layer_fields`;
            heads must divide the width, BLSTM widths must be even).
        blocks: per-layer Conformer blocks (``full``, ``attention``, ``conv``; see
            :class:`~speechnas.arch.LayerSpec`).
        decoders: head kinds. predictors, decoder_dims, decoder_layers, decoder_heads: their
            choices. ctc_weight: auxiliary CTC weight of attention decoders (fixed).
        streaming: ``off`` (full-context only), ``on`` (streaming only) or ``both``.
        chunks, left_contexts, lookaheads: streaming choices, in encoder-output frames.
        dropout: fixed training dropout.
    """

    frontends: tuple[str, ...] = FRONTENDS
    n_mels: tuple[int, ...] = bounded((40, 64, 80), ge=1)
    subsamplings: tuple[str, ...] = SUBSAMPLINGS
    subsampling_factors: tuple[int, ...] = bounded(TOTAL_FACTORS, ge=1)
    time_reduction: bool = True
    subsampling_channels: int = bounded(32, ge=1)
    encoders: tuple[str, ...] = ENCODERS
    attentions: tuple[str, ...] = ATTENTIONS
    attention_windows: tuple[int, ...] = bounded((8, 16, 32), ge=1)
    min_layers: int = bounded(2, ge=1)
    max_layers: int = bounded(12, ge=1)
    widths: tuple[int, ...] = bounded((64, 96, 120, 144, 192, 256), ge=8)
    kernels: tuple[int, ...] = bounded((3, 5, 7, 11, 15), ge=1)
    heads: tuple[int, ...] = bounded((1, 2, 4, 8, 16), ge=1)
    ffn_expansions: tuple[float, ...] = bounded((1.5, 2.0, 3.0, 4.0, 6.0), gt=0)
    activations: tuple[str, ...] = ACTIVATIONS
    norms: tuple[str, ...] = NORMS
    blocks: tuple[str, ...] = ("full",)
    decoders: tuple[str, ...] = DECODERS
    predictors: tuple[str, ...] = PREDICTORS
    decoder_dims: tuple[int, ...] = bounded((128, 256), ge=8)
    decoder_layers: tuple[int, ...] = bounded((1, 2), ge=1)
    decoder_heads: tuple[int, ...] = bounded((4,), ge=1)
    ctc_weight: float = bounded(0.3, ge=0, lt=1)
    streaming: StreamingMode = "off"
    chunks: tuple[int, ...] = bounded((4, 8, 16), ge=1)
    left_contexts: tuple[int, ...] = bounded((16, 32, 64), ge=0)
    lookaheads: tuple[int, ...] = bounded((0, 2, 4), ge=0)
    dropout: float = bounded(0.1, ge=0, lt=1)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # from YAML or JSON
                object.__setattr__(self, f.name, tuple(value))
                value = tuple(value)
            if isinstance(value, tuple) and not value:
                raise ValueError(f"SpeechSpace.{f.name} is empty; give at least one choice")
        check_bounds(self)
        checks: list[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = [
            ("frontends", self.frontends, FRONTENDS),
            ("subsamplings", self.subsamplings, SUBSAMPLINGS),
            ("subsampling_factors", self.subsampling_factors, TOTAL_FACTORS),
            ("encoders", self.encoders, ENCODERS),
            ("attentions", self.attentions, ATTENTIONS),
            ("activations", self.activations, ACTIVATIONS),
            ("norms", self.norms, NORMS),
            ("blocks", self.blocks, BLOCKS),
            ("decoders", self.decoders, DECODERS),
            ("predictors", self.predictors, PREDICTORS),
        ]
        for name, values, allowed in checks:
            bad = [v for v in values if v not in allowed]
            if bad:
                raise ValueError(
                    f"SpeechSpace.{name} has invalid value(s) {bad}; allowed {allowed}"
                )
        if self.streaming not in ("off", "on", "both"):
            raise ValueError(f"SpeechSpace.streaming={self.streaming!r}; expected off, on or both")
        if not 1 <= self.min_layers <= self.max_layers:
            raise ValueError(
                f"SpeechSpace.min_layers={self.min_layers!r}, max_layers={self.max_layers!r}: "
                "need 1 <= min_layers <= max_layers"
            )
        # Every choice must itself make a valid spec part.
        for k in self.kernels:
            LayerSpec(kernel=k)
        for w in self.widths:
            LayerSpec(width=w)
        if self.count() == 0:
            raise ValueError("SpeechSpace holds no valid architecture under its constraints")

    # --- the structure the DP runs over ---------------------------------------------------

    def _layer_options(self, encoder: str) -> tuple[LayerSpec, ...]:
        """Every distinct kept layer of ``encoder``; inactive fields stay at their defaults
        (a ``conv`` block's heads and an ``attention`` block's kernel included)."""
        used = active_layer_fields(encoder)
        choices: dict[str, tuple[Any, ...]] = {
            "kernel": self.kernels,
            "heads": self.heads,
            "ffn_expansion": self.ffn_expansions,
            "activation": self.activations,
            "norm": self.norms,
            "block": self.blocks,
        }
        combos: list[dict[str, Any]] = [{}]
        for name, values in choices.items():
            if name in used:
                combos = [{**c, name: v} for c in combos for v in values]
        out: dict[str, LayerSpec] = {}
        for width in self.widths:
            if encoder == "blstm" and width % 2:
                continue
            for combo in combos:
                block = combo.get("block", "full")
                if block == "conv":
                    combo = {**combo, "heads": LayerSpec.heads}
                elif block == "attention":
                    combo = {**combo, "kernel": LayerSpec.kernel}
                if block != "conv" and "heads" in combo and width % combo["heads"]:
                    continue
                layer = LayerSpec(width=width, **combo)
                out.setdefault(repr(sorted(layer_identity(encoder, layer).items())), layer)
        return tuple(out.values())

    def _decoder_options(self, streaming: bool) -> tuple[DecoderSpec, ...]:
        out: list[DecoderSpec] = []
        for kind in self.decoders:
            if streaming and kind not in STREAMING_DECODERS:
                continue
            if kind == "ctc":
                out.append(DecoderSpec(kind=kind))
            elif kind == "rnnt":
                out += [
                    DecoderSpec(kind=kind, predictor=p, dim=d)
                    for p in self.predictors
                    for d in self.decoder_dims
                ]
            else:
                heads = self.decoder_heads if kind == "aed_transformer" else (DecoderSpec.heads,)
                out += [
                    DecoderSpec(
                        kind=kind, dim=d, num_layers=n, heads=h, ctc_weight=self.ctc_weight
                    )
                    for d in self.decoder_dims
                    for n in self.decoder_layers
                    for h in heads
                    if kind != "aed_transformer" or d % h == 0
                ]
        return tuple(out)

    @functools.cached_property
    def _blocks(self) -> tuple[_Block, ...]:
        modes = {"off": (False,), "on": (True,), "both": (False, True)}[self.streaming]
        blocks = []
        for encoder in self.encoders:
            attn_family = encoder in ATTENTION_ENCODERS
            for streaming in modes:
                if streaming and encoder == "blstm":
                    continue
                attentions: tuple[tuple[str, int], ...] = (("rel", 16),)
                if attn_family:
                    attentions = tuple(
                        (a, w)
                        for a in self.attentions
                        if not (streaming and a == "linear")
                        for w in (self.attention_windows if a == "local" else (16,))
                    )
                stream_options: tuple[StreamingSpec | None, ...] = (None,)
                if streaming:
                    stream_options = tuple(
                        StreamingSpec(chunk=c, left_context=lc, lookahead=la)
                        for c in (self.chunks if attn_family else (8,))
                        for lc in (self.left_contexts if attn_family else (32,))
                        for la in self.lookaheads
                    )
                block = _Block(
                    encoder=encoder,
                    streaming=streaming,
                    attentions=attentions,
                    stream_options=stream_options,
                    decoders=self._decoder_options(streaming),
                    layer_options=self._layer_options(encoder),
                )
                if block.attentions and block.decoders and block.layer_options:
                    blocks.append(block)
        return tuple(blocks)

    def _ways(self, per_layer: int, mid: bool) -> list[list[int]]:
        """``ways[i][s]``: fillings of the first ``i`` kept layers, ``s`` = reduction placed.

        The reduction goes before a layer and needs a layer before it, so it may be inserted
        only when at least one layer is already placed.
        """
        ways = [[1, 0]]
        for i in range(self.max_layers):
            before, after = ways[i]
            ways.append(
                [before * per_layer, (after + (before if mid and i >= 1 else 0)) * per_layer]
            )
        return ways

    def _chain_counts(self, block: _Block) -> list[int]:
        """Per total factor (in ``subsampling_factors`` order): kept-layer stacks."""
        ways = self._ways(len(block.layer_options), self.time_reduction)
        depths = range(self.min_layers, self.max_layers + 1)
        return [
            sum(ways[n][0] + (ways[n][1] if self._mid_allowed(f) else 0) for n in depths)
            for f in self.subsampling_factors
        ]

    def _mid_allowed(self, factor: int) -> bool:
        return self.time_reduction and factor % 2 == 0

    def _block_multiplier(self, block: _Block) -> int:
        return (
            len(self.frontends)
            * len(self.n_mels)
            * len(self.subsamplings)
            * len(block.attentions)
            * len(block.stream_options)
            * len(block.decoders)
        )

    # --- public API ----------------------------------------------------------------------

    def count(self) -> int:
        """The exact number of distinct valid architectures (an arbitrary-size int)."""
        return sum(self.count_by_block().values())

    def count_by_block(self) -> dict[tuple[str, bool], int]:
        """Distinct architectures per ``(encoder, streaming)``."""
        return {
            (b.encoder, b.streaming): self._block_multiplier(b) * sum(self._chain_counts(b))
            for b in self._blocks
        }

    def sample(self, rng: np.random.Generator) -> ArchSpec:
        """One architecture drawn uniformly from the distinct valid ones.

        The returned spec has exactly its kept layers (no skipped ones) and inactive fields at
        their defaults.
        """
        return self.spec_at(_randbelow(rng, self.count()))

    def spec_at(self, index: int) -> ArchSpec:
        """The architecture numbered ``index`` in ``[0, count())``: a bijection (unranking).

        The numbering walks the same tables as :meth:`count`: family block, then total factor,
        then depth and whether a mid-encoder reduction is placed, then where, then each layer's
        choice, then the remaining global choices. ``spec_at(randbelow(count()))`` is a uniform
        draw; ``spec_at(0), spec_at(1), ...`` enumerates the space (a grid).
        """
        total = self.count()
        if not 0 <= index < total:
            raise IndexError(f"index {index} outside [0, {total})")
        blocks = self._blocks
        b, r = _split(
            index, [self._block_multiplier(x) * sum(self._chain_counts(x)) for x in blocks]
        )
        block = blocks[b]
        chain = self._chain_counts(block)
        r, globals_index = divmod(r, self._block_multiplier(block))
        fi, r = _split(r, chain)
        factor = self.subsampling_factors[fi]
        per_layer = len(block.layer_options)
        ways = self._ways(per_layer, self.time_reduction)
        mid = self._mid_allowed(factor)
        ends = [
            (n, s)
            for n in range(self.min_layers, self.max_layers + 1)
            for s in ((0, 1) if mid else (0,))
        ]
        e, r = _split(r, [ways[n][s] for n, s in ends])
        depth, state = ends[e]
        # A stack of ``depth`` layers with the reduction placed: one of ``depth - 1`` positions
        # (before layers 1 .. depth-1), times per_layer**depth layer fillings.
        position = 0
        if state:
            p, r = divmod(r, per_layer**depth)
            position = 1 + p
        picks: list[int] = []
        for _ in range(depth):
            r, k = divmod(r, per_layer)
            picks.append(k)
        layers = tuple(block.layer_options[k] for k in picks)
        sizes = [
            len(self.frontends),
            len(self.n_mels),
            len(self.subsamplings),
            len(block.attentions),
            len(block.stream_options),
            len(block.decoders),
        ]
        digits = []
        for size in sizes:
            globals_index, d = divmod(globals_index, size)
            digits.append(d)
        attention, window = block.attentions[digits[3]]
        return ArchSpec(
            frontend=self.frontends[digits[0]],
            n_mels=self.n_mels[digits[1]],
            subsampling=self.subsamplings[digits[2]],
            subsampling_factor=factor,
            subsampling_channels=self.subsampling_channels,
            time_reduction_layer=position,
            encoder=block.encoder,
            attention=attention,
            attention_window=window,
            layers=layers,
            streaming=block.stream_options[digits[4]],
            decoder=block.decoders[digits[5]],
            dropout=self.dropout,
        )

    def contains(self, spec: ArchSpec) -> bool:
        """Whether ``spec`` (already valid) is an architecture of this space."""
        return not self.violations(spec)

    def violations(self, spec: ArchSpec) -> list[str]:
        """Why ``spec`` is outside the space (empty when it is inside)."""
        out: list[str] = []

        def need(name: str, value: Any, choices: tuple[Any, ...]) -> None:
            if value not in choices:
                out.append(f"{name}={value!r} not in {choices}")

        need("frontend", spec.frontend, self.frontends)
        need("n_mels", spec.n_mels, self.n_mels)
        need("subsampling", spec.subsampling, self.subsamplings)
        need("subsampling_factor", spec.subsampling_factor, self.subsampling_factors)
        if spec.subsampling_channels != self.subsampling_channels:
            out.append(
                f"subsampling_channels={spec.subsampling_channels} is fixed at "
                f"{self.subsampling_channels}"
            )
        if spec.time_reduction_layer and not self._mid_allowed(spec.subsampling_factor):
            out.append("time_reduction_layer: this space has no mid-encoder reduction")
        need("encoder", spec.encoder, self.encoders)
        if spec.dropout != self.dropout:
            out.append(f"dropout={spec.dropout} is fixed at {self.dropout}")
        streaming = spec.streaming is not None
        if self.streaming == "off" and streaming:
            out.append("streaming: this space is full-context only")
        if self.streaming == "on" and not streaming:
            out.append("streaming: this space is streaming only")
        kept = len(spec.kept_layers)
        if not self.min_layers <= kept <= self.max_layers:
            out.append(f"{kept} kept layers; need {self.min_layers}..{self.max_layers}")
        if out or spec.encoder not in self.encoders:
            return out
        canon = spec.canonical()
        block = next(
            (b for b in self._blocks if (b.encoder, b.streaming) == (spec.encoder, streaming)),
            None,
        )
        if block is None:
            return [f"encoder={spec.encoder!r} with streaming={streaming} is not in the space"]
        layer_canon = self._layer_canon[spec.encoder]
        for i, lay in enumerate(canon["layers"]):
            if tuple(sorted(lay.items())) not in layer_canon:
                out.append(f"kept layer {i} {lay} is not a choice of this space")
        if (
            spec.uses_attention
            and (spec.attention, spec.attention_window if spec.attention == "local" else 16)
            not in block.attentions
        ):
            out.append(
                f"attention={spec.attention!r} (window {spec.attention_window}) not offered"
            )
        if spec.decoder.active() not in [d.active() for d in block.decoders]:
            out.append(f"decoder {spec.decoder.active()} is not a choice of this space")
        if streaming:
            assert spec.streaming is not None
            if spec.streaming.lookahead not in self.lookaheads:
                out.append(f"lookahead={spec.streaming.lookahead} not in {self.lookaheads}")
            if spec.uses_attention:
                need("chunk", spec.streaming.chunk, self.chunks)
                need("left_context", spec.streaming.left_context, self.left_contexts)
        return out

    @functools.cached_property
    def _layer_canon(self) -> dict[str, set[tuple[tuple[str, Any], ...]]]:
        """Per family, the canonical forms of the layers this space offers."""
        return {
            e: {tuple(sorted(layer_identity(e, lay).items())) for lay in self._layer_options(e)}
            for e in self.encoders
        }

    def iter_blocks(self) -> Iterator[tuple[str, bool, int]]:
        """``(encoder, streaming, distinct architectures)`` for each family and mode."""
        for (encoder, streaming), n in self.count_by_block().items():
            yield encoder, streaming, n

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeechSpace:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"SpeechSpace: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**data)
