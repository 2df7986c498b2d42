"""The elastic space a supernet covers: one macro architecture, elastic per layer.

A :class:`SupernetSpace` fixes everything outside the layers (front-end, stem, encoder family,
attention kind, streaming, head) in ``base`` and makes each layer elastic: depth (the first
``d`` of ``max_layers`` layers are kept, ``min_layers <= d``), and per kept layer its width,
convolution kernel, attention heads, FFN expansion and, for Conformers, its block (attention
and convolution, attention only, or convolution only).

A layer is ``(width, kernel, heads, ffn, block)``; a block's unused field is normalised to the
:class:`~speechnas.arch.LayerSpec` default (a ``conv`` block's heads, an ``attention`` block's
kernel), as in :class:`~speechnas.space.SpeechSpace`, so each distinct layer has one spec.

Every subnet is an ordinary :class:`~speechnas.arch.ArchSpec` of ``max_layers`` layer slots
with the unused slots skipped, so it is built, trained, measured and stored like any other
architecture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from speechnas.arch import BLOCKS, ArchSpec, DecoderSpec, LayerSpec, StreamingSpec
from speechnas.space import SpeechSpace

__all__ = ["SUPERNET_ENCODERS", "SupernetSpace"]

#: Encoder families a supernet covers (their layers share one parameter layout).
SUPERNET_ENCODERS = ("conformer", "transformer")


@dataclass(frozen=True)
class SupernetSpace:
    """Elastic depth and per-layer width, kernel, heads, FFN expansion and block over ``base``.

    Attributes:
        base: the fixed macro architecture; its layers are ignored except the first's
            activation and norm, which every layer takes.
        min_layers, max_layers: depth range (kept layers are always the first ``d``).
        widths, kernels, heads, ffn_expansions: per-layer choices; heads must divide every
            width.
        blocks: per-layer Conformer blocks (``full``, ``attention``, ``conv``).

    Raises:
        ValueError: an encoder family other than conformer/transformer, an empty or
            inconsistent choice, or a head count that does not divide a width.
    """

    base: ArchSpec
    min_layers: int = 2
    max_layers: int = 6
    widths: tuple[int, ...] = (96, 144, 192)
    kernels: tuple[int, ...] = (7, 15, 31)
    heads: tuple[int, ...] = (2, 4)
    ffn_expansions: tuple[float, ...] = (2.0, 4.0)
    blocks: tuple[str, ...] = ("full",)

    def __post_init__(self) -> None:
        if self.base.encoder not in SUPERNET_ENCODERS:
            raise ValueError(
                f"base.encoder={self.base.encoder!r}; a supernet covers {SUPERNET_ENCODERS}"
            )
        if not 1 <= self.min_layers <= self.max_layers:
            raise ValueError(
                f"need 1 <= min_layers <= max_layers, got {self.min_layers}, {self.max_layers}"
            )
        for name in ("widths", "kernels", "heads", "ffn_expansions", "blocks"):
            if not getattr(self, name):
                raise ValueError(f"{name} is empty")
        bad_blocks = [b for b in self.blocks if b not in BLOCKS]
        if bad_blocks:
            raise ValueError(f"blocks {bad_blocks} are unknown; known: {BLOCKS}")
        if self.base.encoder != "conformer" and self.blocks != ("full",):
            raise ValueError("blocks other than full are Conformer blocks")
        bad = [(w, h) for w in self.widths for h in self.heads if w % h]
        if bad:
            raise ValueError(f"heads must divide every width; they do not for {bad}")
        if self.base.time_reduction_layer:
            raise ValueError("a mid-encoder reduction is not elastic yet; use base without one")
        # Validates the extremes as architectures.
        self.largest()
        self.smallest()

    @classmethod
    def from_speech_space(cls, space: SpeechSpace) -> SupernetSpace:
        """The supernet space of a search space whose macro architecture is fixed.

        Everything outside the layers must have one choice: front-end, mel bins, stem,
        reduction, encoder (conformer or transformer), attention (and window for ``local``),
        activation, norm, a CTC head, no mid-encoder reduction, and streaming ``off`` or
        ``on`` with one chunk, left context and look-ahead. Depth and each layer's width,
        kernel, heads and FFN expansion stay elastic, with the space's choices.

        Raises:
            ValueError: naming the first field with more than one choice (or a wrong one).
        """
        single = [
            "frontends",
            "n_mels",
            "subsamplings",
            "subsampling_factors",
            "encoders",
            "attentions",
            "activations",
            "norms",
            "decoders",
        ]
        if space.attentions == ("local",):
            single.append("attention_windows")
        if space.streaming == "on":
            single += ["chunks", "left_contexts", "lookaheads"]
        for name in single:
            values = getattr(space, name)
            if len(values) != 1:
                raise ValueError(
                    f"space.{name} has {len(values)} choices {list(values)}; a supernet shares "
                    "one macro architecture: give one"
                )
        if space.decoders != ("ctc",):
            raise ValueError(f"space.decoders={list(space.decoders)}; a supernet has a CTC head")
        if space.time_reduction:
            raise ValueError("space.time_reduction must be false: the supernet has none")
        if space.streaming == "both":
            raise ValueError("space.streaming=both; a supernet is streaming (on) or not (off)")
        streaming = None
        if space.streaming == "on":
            streaming = StreamingSpec(
                chunk=space.chunks[0],
                left_context=space.left_contexts[0],
                lookahead=space.lookaheads[0],
            )
        layer = LayerSpec(
            width=max(space.widths),
            kernel=max(space.kernels),
            heads=max(space.heads),
            ffn_expansion=max(space.ffn_expansions),
            activation=space.activations[0],
            norm=space.norms[0],
        )
        base = ArchSpec(
            frontend=space.frontends[0],
            n_mels=space.n_mels[0],
            subsampling=space.subsamplings[0],
            subsampling_factor=space.subsampling_factors[0],
            subsampling_channels=space.subsampling_channels,
            encoder=space.encoders[0],
            attention=space.attentions[0],
            attention_window=space.attention_windows[0],
            layers=(layer,),
            streaming=streaming,
            decoder=DecoderSpec(kind="ctc"),
            dropout=space.dropout,
        )
        return cls(
            base=base,
            min_layers=space.min_layers,
            max_layers=space.max_layers,
            widths=space.widths,
            kernels=space.kernels,
            heads=space.heads,
            ffn_expansions=space.ffn_expansions,
            blocks=space.blocks if space.encoders == ("conformer",) else ("full",),
        )

    def _layer(
        self, width: int, kernel: int, heads: int, ffn: float, block: str = "full"
    ) -> LayerSpec:
        if block == "conv":
            heads = LayerSpec.heads  # unused: one spec per distinct layer
        elif block == "attention":
            kernel = LayerSpec.kernel
        first = self.base.layers[0]
        return LayerSpec(
            width=width,
            kernel=kernel,
            heads=heads,
            ffn_expansion=ffn,
            activation=first.activation,
            norm=first.norm,
            block=block,
        )

    def spec(self, layers: Sequence[Sequence[Any]]) -> ArchSpec:
        """The subnet keeping ``len(layers)`` layers of ``(width, kernel, heads, ffn[,
        block])`` (block ``full`` when left out)."""
        if not self.min_layers <= len(layers) <= self.max_layers:
            raise ValueError(
                f"{len(layers)} layers; this space keeps {self.min_layers}-{self.max_layers}"
            )
        kept = [self._layer(*layer) for layer in layers]
        skipped = [dataclasses.replace(kept[-1], skip=True)] * (self.max_layers - len(kept))
        return dataclasses.replace(self.base, layers=tuple(kept + skipped))

    def at_depth(self, depth: int) -> SupernetSpace:
        """The part of this space that keeps exactly ``depth`` layers (one supernet per depth
        removes weight sharing across depths; see :class:`~speechnas.supernet.scoring.ByDepth`).

        Raises:
            ValueError: ``depth`` is outside ``min_layers..max_layers``.
        """
        if not self.min_layers <= depth <= self.max_layers:
            raise ValueError(
                f"depth {depth}; this space keeps {self.min_layers}-{self.max_layers}"
            )
        return dataclasses.replace(self, min_layers=depth, max_layers=depth)

    def largest(self) -> ArchSpec:
        """Every layer at its largest choices (the ``full`` block where offered)."""
        block = next(b for b in ("full", "attention", "conv") if b in self.blocks)
        big = (max(self.widths), max(self.kernels), max(self.heads), max(self.ffn_expansions))
        return self.spec([(*big, block)] * self.max_layers)

    def cover(self) -> ArchSpec:
        """:meth:`largest` with ``full`` blocks: it has every module any subnet has (itself a
        subnet only when ``full`` is a choice)."""
        big = (max(self.widths), max(self.kernels), max(self.heads), max(self.ffn_expansions))
        return self.spec([(*big, "full")] * self.max_layers)

    def smallest(self) -> ArchSpec:
        """The fewest layers at their smallest choices (the ``conv`` block where offered)."""
        block = next(b for b in ("conv", "attention", "full") if b in self.blocks)
        small = (min(self.widths), min(self.kernels), min(self.heads), min(self.ffn_expansions))
        return self.spec([(*small, block)] * self.min_layers)

    def sample(self, rng: np.random.Generator) -> ArchSpec:
        """A uniformly drawn subnet (depth, then each kept layer's choices)."""
        depth = int(rng.integers(self.min_layers, self.max_layers + 1))

        def pick(options: tuple[float, ...] | tuple[int, ...]) -> float:
            return options[int(rng.integers(len(options)))]

        layers = [
            (
                int(pick(self.widths)),
                int(pick(self.kernels)),
                int(pick(self.heads)),
                float(pick(self.ffn_expansions)),
                self.blocks[int(rng.integers(len(self.blocks)))]
                if len(self.blocks) > 1
                else self.blocks[0],
            )
            for _ in range(depth)
        ]
        return self.spec(layers)

    def choices(self, spec: ArchSpec) -> list[tuple[int, int, int, float, str]]:
        """``spec``'s kept layers as ``(width, kernel, heads, ffn, block)``, for
        :meth:`spec`."""
        return [
            (layer.width, layer.kernel, layer.heads, layer.ffn_expansion, layer.block)
            for layer in spec.kept_layers
        ]

    def project(self, spec: ArchSpec) -> ArchSpec:
        """The subnet nearest to ``spec``, an architecture of this space's encoder family
        that need not be a subnet (another front-end, activation, norm or choice list): its
        kept layers on this space's macro architecture, the depth clipped to the range, each
        width, kernel, head count and FFN expansion the nearest choice (the smaller on a tie),
        a block this space does not offer replaced by its first. A subnet projects to itself.

        Raises:
            ValueError: ``spec``'s encoder family is not this space's.
        """
        if spec.encoder != self.base.encoder:
            raise ValueError(
                f"{spec.summary()} is a {spec.encoder}; this space's subnets are "
                f"{self.base.encoder}s"
            )

        def near(options: tuple[float, ...] | tuple[int, ...], value: float) -> float:
            return min(sorted(options), key=lambda option: abs(option - value))

        kept = list(spec.kept_layers)[: self.max_layers]
        kept += [kept[-1]] * (self.min_layers - len(kept))
        return self.spec(
            [
                (
                    int(near(self.widths, layer.width)),
                    int(near(self.kernels, layer.kernel)),
                    int(near(self.heads, layer.heads)),
                    float(near(self.ffn_expansions, layer.ffn_expansion)),
                    layer.block if layer.block in self.blocks else self.blocks[0],
                )
                for layer in kept
            ]
        )

    def mutate(self, spec: ArchSpec, rng: np.random.Generator, rate: float = 0.2) -> ArchSpec:
        """A neighbour of ``spec``: each layer choice redrawn with probability ``rate``, and
        with that probability one layer added (a copy of the last) or dropped."""
        options: tuple[tuple[Any, ...], ...] = (
            self.widths,
            self.kernels,
            self.heads,
            self.ffn_expansions,
        )
        if len(self.blocks) > 1:  # (a space of one block draws as it did before blocks)
            options += (self.blocks,)
        layers: list[tuple[Any, ...]] = [
            tuple(
                # a value outside the options is a block's unused field: drawn if used again
                opts[int(rng.integers(len(opts)))]
                if rng.random() < rate or value not in opts
                else value
                for opts, value in zip(options, layer, strict=False)
            )
            + layer[len(options) :]
            for layer in self.choices(spec)
        ]
        if rng.random() < rate:
            if rng.random() < 0.5 and len(layers) < self.max_layers:
                layers.append(layers[-1])
            elif len(layers) > self.min_layers:
                layers.pop()
        return self.spec([(int(w), int(k), int(h), float(f), str(b)) for w, k, h, f, b in layers])

    def contains(self, spec: ArchSpec) -> bool:
        """Whether ``spec`` is a subnet of this space."""
        kept = spec.kept_layers
        if not self.min_layers <= len(kept) <= self.max_layers:
            return False
        if any(layer.skip for layer in spec.layers[: len(kept)]):
            return False  # kept layers must come first
        outside = dataclasses.replace(spec, layers=self.base.layers)
        if outside != dataclasses.replace(self.base, layers=self.base.layers):
            return False
        chosen = all(
            layer.width in self.widths
            and (layer.kernel in self.kernels or layer.block == "attention")
            and (layer.heads in self.heads or layer.block == "conv")
            and layer.ffn_expansion in self.ffn_expansions
            and layer.block in self.blocks
            for layer in kept
        )
        # The same slots, the same skipped ones: the one spec (and arch_id) of these choices.
        return chosen and spec == self.spec(self.choices(spec))
