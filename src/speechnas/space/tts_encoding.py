"""``TTSEncoding``: a :class:`~speechnas.space.TTSSpace` as a fixed list of decisions, as
:class:`~speechnas.space.SpaceEncoding` is a recogniser space, so the same strategies
(TPE, NSGA-II, evolution, an RL controller) can propose text-to-speech models.

Decisions: ``width``, ``encoder_depth``, one block per encoder slot up to the deepest
(``E0.block`` ...), ``decoder_depth``, ``D0.block`` ..., ``duration_layers``, ``pitch`` and
``energy``; decisions with a single choice are left out. A block decision's choices are the
space's distinct blocks (:meth:`~speechnas.space.TTSSpace.block_choices`) named by a short
label (``tf4x2`` a Transformer of 4 heads and FFN expansion 2, ``dsconv9x4`` a separable
convolution of 9 taps), so a database shows what was picked. Slots past a depth are unused.

Every assignment decodes to a model of the space; :meth:`TTSEncoding.encode` is its inverse
on the space (``decode(encode(spec))`` is ``spec`` for every spec the space contains) and a
projection outside it (each field to its nearest choice, a block to the nearest block of its
kind, slots past the depth repeating the last block).

Example:
    >>> enc = TTSEncoding(TTSSpace())
    >>> spec = enc.decode({d.name: 0 for d in enc.decisions})
    >>> enc.space.contains(spec)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.space._encoding import Decision, _nearest
from speechnas.space.tts import TTSSpace

__all__ = ["TTSEncoding", "block_label"]

_SHORT = {"transformer": "tf", "conv": "conv", "dsconv": "dsconv"}


def block_label(block: TTSBlock) -> str:
    """A block's short name: ``tf<heads>x<ffn>`` or ``<kind><kernel>x<ffn>``."""
    b = block.normalised()
    size = b.heads if b.kind == "transformer" else b.kernel
    return f"{_SHORT[b.kind]}{size}x{b.ffn_expansion:g}"


class TTSEncoding:
    """A :class:`TTSSpace` as a fixed list of :class:`Decision` (module docstring)."""

    def __init__(self, space: TTSSpace) -> None:
        self.space = space
        s = space
        self._blocks = s.block_choices()
        labels = tuple(block_label(b) for b in self._blocks)
        every = [
            Decision("width", tuple(sorted(s.widths)), True),
            Decision(
                "encoder_depth", tuple(range(s.min_encoder_layers, s.max_encoder_layers + 1)), True
            ),
            *(Decision(f"E{i}.block", labels, False) for i in range(s.max_encoder_layers)),
            Decision(
                "decoder_depth", tuple(range(s.min_decoder_layers, s.max_decoder_layers + 1)), True
            ),
            *(Decision(f"D{i}.block", labels, False) for i in range(s.max_decoder_layers)),
            Decision("duration_layers", tuple(sorted(s.duration_layers)), True),
            Decision("pitch", tuple(sorted(set(s.pitch))), False),
            Decision("energy", tuple(sorted(set(s.energy))), False),
        ]
        self._every = {d.name: d for d in every}
        self.decisions: tuple[Decision, ...] = tuple(d for d in every if len(d.choices) > 1)

    def __len__(self) -> int:
        return len(self.decisions)

    def decision(self, name: str) -> Decision:
        return self._every[name]

    def _value(self, indices: Mapping[str, int], name: str) -> Any:
        d = self._every[name]
        return d.choices[indices.get(name, 0) if len(d.choices) > 1 else 0]

    def decode(self, indices: Mapping[str, int]) -> TTSSpec:
        """The model of the space that ``indices`` (decision name -> index) picks."""
        by_label = {block_label(b): b for b in self._blocks}

        def stack(prefix: str, depth: int) -> tuple[TTSBlock, ...]:
            return tuple(
                by_label[self._value(indices, f"{prefix}{i}.block")] for i in range(depth)
            )

        return self.space._spec(
            self._value(indices, "width"),
            stack("E", self._value(indices, "encoder_depth")),
            stack("D", self._value(indices, "decoder_depth")),
            self._value(indices, "duration_layers"),
            self._value(indices, "pitch"),
            self._value(indices, "energy"),
        )

    def _nearest_block(self, block: TTSBlock) -> str:
        """The label of the space's block nearest to ``block``: of its kind if the space
        offers it, the closest kernel or heads, then the closest FFN expansion."""
        same = [b for b in self._blocks if b.kind == block.kind] or self._blocks

        def distance(b: TTSBlock) -> tuple[float, float]:
            size = (
                abs(b.heads - block.heads)
                if b.kind == "transformer"
                else abs(b.kernel - block.kernel)
            )
            return (float(size), abs(b.ffn_expansion - block.ffn_expansion))

        return block_label(min(same, key=distance))

    def encode(self, spec: TTSSpec) -> dict[str, int]:
        """Indices that decode to ``spec`` (or, outside the space, to its nearest choices)."""
        target: dict[str, Any] = {
            "width": spec.width,
            "encoder_depth": len(spec.encoder),
            "decoder_depth": len(spec.decoder),
            "duration_layers": spec.duration_layers,
            "pitch": spec.pitch,
            "energy": spec.energy,
        }
        for prefix, blocks, most in (
            ("E", spec.encoder, self.space.max_encoder_layers),
            ("D", spec.decoder, self.space.max_decoder_layers),
        ):
            for i in range(most):
                target[f"{prefix}{i}.block"] = self._nearest_block(blocks[min(i, len(blocks) - 1)])
        return {d.name: _nearest(d.choices, target[d.name], d.ordered) for d in self.decisions}

    def project(self, spec: TTSSpec) -> TTSSpec:
        """The model of the space nearest to ``spec`` (``spec`` itself if inside)."""
        return self.decode(self.encode(spec))
