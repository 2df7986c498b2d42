"""``TTSSpace``: the choices of a text-to-speech search (:class:`~speechnas.arch.tts.TTSSpec`),
counted exactly and sampled uniformly as :class:`~speechnas.space.SpeechSpace` is.

A model of the space picks its width, then an encoder depth and each encoder block, a
decoder depth and each decoder block, the duration predictor's depth, and whether it
predicts pitch and energy. A block is one of the offered kinds with that kind's choices
(a Transformer's heads and FFN expansion; a convolution's kernel and FFN expansion), its
unused fields normalised (:meth:`~speechnas.arch.tts.TTSBlock.normalised`), so every
distinct model is counted once. :meth:`TTSSpace.sample` draws uniformly over the distinct
models; :meth:`TTSSpace.models` enumerates them (for small spaces and tests) and
:meth:`TTSSpace.spec_at` indexes them (for a grid).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from speechnas._config_io import bounded, check_bounds
from speechnas.arch.tts import TTS_BLOCKS, TTSBlock, TTSSpec

__all__ = ["TTSSpace"]


@dataclass(frozen=True)
class TTSSpace:
    """The choices (module docstring); every tuple must be non-empty.

    Raises:
        FieldError: a number out of its range (named, with the range).
        ValueError: an empty choice, an unknown block kind, a depth range out of order, or a
            head count that does not divide a width (each named).
    """

    widths: tuple[int, ...] = bounded((128, 192, 256), ge=1)
    min_encoder_layers: int = bounded(2, ge=1)
    max_encoder_layers: int = bounded(4, ge=1)
    min_decoder_layers: int = bounded(2, ge=1)
    max_decoder_layers: int = bounded(4, ge=1)
    blocks: tuple[str, ...] = TTS_BLOCKS
    kernels: tuple[int, ...] = bounded((3, 5, 9, 13), ge=1)
    heads: tuple[int, ...] = bounded((2, 4), ge=1)
    ffn_expansions: tuple[float, ...] = bounded((2.0, 4.0), gt=0)
    duration_layers: tuple[int, ...] = bounded((1, 2), ge=1)
    duration_kernel: int = bounded(3, ge=1)
    pitch: tuple[bool, ...] = (False, True)
    energy: tuple[bool, ...] = (False, True)
    text_units: str = "char"
    n_mels: int = bounded(80, ge=1)
    dropout: float = bounded(0.1, ge=0, lt=1)

    def __post_init__(self) -> None:
        check_bounds(self)
        for name in (
            "widths",
            "blocks",
            "kernels",
            "heads",
            "ffn_expansions",
            "duration_layers",
            "pitch",
            "energy",
        ):
            if not getattr(self, name):
                raise ValueError(f"TTSSpace.{name} is empty")
        bad = [b for b in self.blocks if b not in TTS_BLOCKS]
        if bad:
            raise ValueError(f"TTSSpace.blocks {bad} are unknown; known: {TTS_BLOCKS}")
        for part in ("encoder", "decoder"):
            lo, hi = getattr(self, f"min_{part}_layers"), getattr(self, f"max_{part}_layers")
            if not 1 <= lo <= hi:
                raise ValueError(
                    f"TTSSpace: need 1 <= min_{part}_layers <= max_{part}_layers, got {lo}, {hi}"
                )
        if "transformer" in self.blocks:
            pairs = [(w, h) for w in self.widths for h in self.heads if w % h]
            if pairs:
                raise ValueError(f"TTSSpace: heads must divide every width; {pairs} do not")

    def block_choices(self) -> list[TTSBlock]:
        """Every distinct block, in a fixed order."""
        out = []
        for kind in self.blocks:
            if kind == "transformer":
                out += [
                    TTSBlock(kind, heads=h, ffn_expansion=f).normalised()
                    for h in self.heads
                    for f in self.ffn_expansions
                ]
            else:
                out += [
                    TTSBlock(kind, kernel=k, ffn_expansion=f).normalised()
                    for k in self.kernels
                    for f in self.ffn_expansions
                ]
        return out

    def _stacks(self, lo: int, hi: int) -> int:
        n = len(self.block_choices())
        return sum(n**depth for depth in range(lo, hi + 1))

    def _radices(self) -> tuple[int, ...]:
        """How many choices each part of a model has: width, encoder stack, decoder stack,
        duration layers, pitch, energy (:meth:`models`' order)."""
        return (
            len(self.widths),
            self._stacks(self.min_encoder_layers, self.max_encoder_layers),
            self._stacks(self.min_decoder_layers, self.max_decoder_layers),
            len(self.duration_layers),
            len(self.pitch),
            len(self.energy),
        )

    def count(self) -> int:
        """The number of distinct models."""
        return math.prod(self._radices())

    def _spec(
        self,
        width: int,
        encoder: tuple[TTSBlock, ...],
        decoder: tuple[TTSBlock, ...],
        duration: int,
        pitch: bool,
        energy: bool,
    ) -> TTSSpec:
        return TTSSpec(
            width=width,
            encoder=encoder,
            decoder=decoder,
            duration_layers=duration,
            duration_kernel=self.duration_kernel,
            pitch=pitch,
            energy=energy,
            text_units=self.text_units,
            n_mels=self.n_mels,
            dropout=self.dropout,
        )

    def models(self) -> Iterator[TTSSpec]:
        """Every distinct model (there are :meth:`count` of them: enumerate small spaces)."""
        blocks = self.block_choices()

        def stacks(lo: int, hi: int) -> Iterator[tuple[TTSBlock, ...]]:
            for depth in range(lo, hi + 1):
                yield from itertools.product(blocks, repeat=depth)

        for width, enc, dec, duration, pitch, energy in itertools.product(
            self.widths,
            stacks(self.min_encoder_layers, self.max_encoder_layers),
            list(stacks(self.min_decoder_layers, self.max_decoder_layers)),
            self.duration_layers,
            self.pitch,
            self.energy,
        ):
            yield self._spec(width, enc, dec, duration, pitch, energy)

    def spec_at(self, index: int) -> TTSSpec:
        """The ``index``-th model of :meth:`models`' order, without enumerating the others.

        Raises:
            IndexError: ``index`` outside ``[0, count())``.
        """
        if not 0 <= index < self.count():
            raise IndexError(f"index {index} outside the space's {self.count()} models")
        blocks = self.block_choices()

        def stack(j: int, lo: int) -> tuple[TTSBlock, ...]:
            depth = lo
            while j >= len(blocks) ** depth:
                j -= len(blocks) ** depth
                depth += 1
            digits = []
            for _ in range(depth):
                j, digit = divmod(j, len(blocks))
                digits.append(blocks[digit])
            return tuple(reversed(digits))

        digits = []
        for radix in reversed(self._radices()):
            index, digit = divmod(index, radix)
            digits.append(digit)
        width, enc, dec, duration, pitch, energy = reversed(digits)
        return self._spec(
            self.widths[width],
            stack(enc, self.min_encoder_layers),
            stack(dec, self.min_decoder_layers),
            self.duration_layers[duration],
            self.pitch[pitch],
            self.energy[energy],
        )

    def sample(self, rng: np.random.Generator) -> TTSSpec:
        """A model drawn uniformly over the distinct models: each depth with the weight of
        the stacks it has, then each block uniformly."""
        blocks = self.block_choices()

        def stack(lo: int, hi: int) -> tuple[TTSBlock, ...]:
            depths = list(range(lo, hi + 1))
            weights = np.array([float(len(blocks)) ** d for d in depths])
            depth = depths[int(rng.choice(len(depths), p=weights / weights.sum()))]
            return tuple(blocks[int(rng.integers(len(blocks)))] for _ in range(depth))

        def pick(n: int) -> int:
            return int(rng.integers(n))

        width = self.widths[pick(len(self.widths))]
        encoder = stack(self.min_encoder_layers, self.max_encoder_layers)
        decoder = stack(self.min_decoder_layers, self.max_decoder_layers)
        duration = self.duration_layers[pick(len(self.duration_layers))]
        pitch = self.pitch[pick(len(self.pitch))]
        energy = self.energy[pick(len(self.energy))]
        return self._spec(width, encoder, decoder, duration, pitch, energy)

    def contains(self, spec: TTSSpec) -> bool:
        """Whether ``spec`` is a model of this space (blocks compared by what they use)."""
        identities = [b.identity() for b in self.block_choices()]
        ranges = {
            "encoder": (self.min_encoder_layers, self.max_encoder_layers),
            "decoder": (self.min_decoder_layers, self.max_decoder_layers),
        }
        for part, (lo, hi) in ranges.items():
            blocks = getattr(spec, part)
            if not lo <= len(blocks) <= hi:
                return False
            if any(b.identity() not in identities for b in blocks):
                return False
        return (
            spec.width in self.widths
            and spec.duration_layers in self.duration_layers
            and spec.duration_kernel == self.duration_kernel
            and spec.pitch in self.pitch
            and spec.energy in self.energy
            and (spec.text_units, spec.n_mels, spec.dropout)
            == (self.text_units, self.n_mels, self.dropout)
        )
