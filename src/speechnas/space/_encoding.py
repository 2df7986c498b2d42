"""``SpaceEncoding``: a space as a fixed list of decisions, for strategies that need vectors.

Model-based strategies (TPE, Gaussian processes, NSGA-II, an RL controller) work on a fixed
set of parameters, while architectures of a :class:`SpeechSpace` vary in depth and in which
fields are active. The encoding bridges the two: one *decision* per global choice and per
layer slot field (``L3.width``, ...) up to ``max_layers``, each an index into its choices.
Decisions with a single choice are left out.

:meth:`SpaceEncoding.decode` turns any assignment of indices into an architecture of the
space, repairing combinations the space does not offer to the nearest one it does (heads that
do not divide the width, a BLSTM asked to stream, an attention decoder on a streaming model).
Repairs make the mapping many-to-one but never invalid, so every proposal of every strategy
trains. :meth:`SpaceEncoding.encode` is its inverse on the space: ``decode(encode(spec))``
has the ``arch_id`` of ``spec`` for every ``spec`` the space contains; a spec outside the
space encodes to its nearest choices (a projection).

Example:
    >>> enc = SpaceEncoding(SpeechSpace(max_layers=4))
    >>> spec = enc.decode({d.name: 0 for d in enc.decisions})
    >>> enc.space.contains(spec)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from speechnas.arch import (
    ATTENTION_ENCODERS,
    ArchSpec,
    DecoderSpec,
    LayerSpec,
    StreamingSpec,
    active_layer_fields,
    layer_identity,
)
from speechnas.space._space import SpeechSpace, _Block

__all__ = ["Decision", "SpaceEncoding"]

LAYER_FIELDS = ("width", "kernel", "heads", "ffn_expansion", "activation", "norm", "block")
_DECODER_DECISION = {
    "predictor": "predictor",
    "dim": "decoder_dim",
    "num_layers": "decoder_layers",
    "heads": "decoder_heads",
}
_LAYER_DECISION = {f: f"L0.{f}" for f in LAYER_FIELDS}
_LAYER_SPACE_FIELD = {
    "width": "widths",
    "kernel": "kernels",
    "heads": "heads",
    "ffn_expansion": "ffn_expansions",
    "activation": "activations",
    "norm": "norms",
    "block": "blocks",
}


@dataclass(frozen=True)
class Decision:
    """One choice of the encoding.

    Attributes:
        name: ``encoder``, ``depth``, ``L0.width``, ...
        choices: The values, indexed by the decision's value.
        ordered: Whether the choices are numbers in increasing order (neighbours are alike),
            so a strategy may treat the index as an integer rather than a category.
    """

    name: str
    choices: tuple[Any, ...]
    ordered: bool


def _nearest(choices: tuple[Any, ...], value: Any, ordered: bool) -> int:
    if value in choices:
        return choices.index(value)
    if ordered and isinstance(value, (int, float)):
        return min(range(len(choices)), key=lambda i: (abs(choices[i] - value), i))
    return 0


def _layer_key(encoder: str, layer: LayerSpec) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(layer_identity(encoder, layer).items()))


class SpaceEncoding:
    """A :class:`SpeechSpace` as a fixed list of :class:`Decision` (see the module doc)."""

    def __init__(self, space: SpeechSpace) -> None:
        self.space = space
        s = space
        streaming_choices = {"off": (False,), "on": (True,), "both": (False, True)}[s.streaming]
        every = [
            Decision("encoder", s.encoders, False),
            Decision("streaming", streaming_choices, False),
            Decision("frontend", s.frontends, False),
            Decision("n_mels", tuple(sorted(s.n_mels)), True),
            Decision("subsampling", s.subsamplings, False),
            Decision("factor", tuple(sorted(s.subsampling_factors)), True),
            Decision("depth", tuple(range(s.min_layers, s.max_layers + 1)), True),
            Decision(
                "reduction_at",
                tuple(range(s.max_layers)) if s.time_reduction else (0,),
                True,
            ),
            Decision("attention", s.attentions, False),
            Decision("window", tuple(sorted(s.attention_windows)), True),
            Decision("chunk", tuple(sorted(s.chunks)), True),
            Decision("left_context", tuple(sorted(s.left_contexts)), True),
            Decision("lookahead", tuple(sorted(s.lookaheads)), True),
            Decision("decoder", s.decoders, False),
            Decision("predictor", s.predictors, False),
            Decision("decoder_dim", tuple(sorted(s.decoder_dims)), True),
            Decision("decoder_layers", tuple(sorted(s.decoder_layers)), True),
            Decision("decoder_heads", tuple(sorted(s.decoder_heads)), True),
        ]
        for i in range(s.max_layers):
            for f in LAYER_FIELDS:
                values = getattr(s, _LAYER_SPACE_FIELD[f])
                ordered = f not in ("activation", "norm", "block")
                every.append(
                    Decision(f"L{i}.{f}", tuple(sorted(values)) if ordered else values, ordered)
                )
        self._every = {d.name: d for d in every}
        self.decisions: tuple[Decision, ...] = tuple(d for d in every if len(d.choices) > 1)
        self._blocks = {(b.encoder, b.streaming): b for b in s._blocks}
        self._layer_options: dict[tuple[str, bool], dict[tuple[Any, ...], LayerSpec]] = {
            key: {_layer_key(b.encoder, lay): lay for lay in b.layer_options}
            for key, b in self._blocks.items()
        }

    def __len__(self) -> int:
        return len(self.decisions)

    def decision(self, name: str) -> Decision:
        return self._every[name]

    # --- indices -> spec -----------------------------------------------------------------

    def decode(self, indices: Mapping[str, int]) -> ArchSpec:
        """The architecture of the space that ``indices`` (decision name -> index) picks.

        Raises:
            KeyError: a decision is missing.
            ValueError: an index is outside its decision's choices.
        """
        v: dict[str, Any] = {}
        for name, d in self._every.items():
            if len(d.choices) == 1:
                v[name] = d.choices[0]
                continue
            if name not in indices:
                raise KeyError(f"decision {name!r} has no value")
            k = int(indices[name])
            if not 0 <= k < len(d.choices):
                raise ValueError(f"decision {name}={k} outside [0, {len(d.choices)})")
            v[name] = d.choices[k]
        block = self._block(v["encoder"], v["streaming"])
        factor = v["factor"]
        depth = v["depth"]
        position = min(v["reduction_at"], depth - 1) if self.space._mid_allowed(factor) else 0
        attention, window = self._attention(block, v["attention"], v["window"])
        stream = None
        if block.streaming:
            attn = block.encoder in ATTENTION_ENCODERS
            stream = StreamingSpec(
                chunk=v["chunk"] if attn else 8,
                left_context=v["left_context"] if attn else 32,
                lookahead=v["lookahead"],
            )
        return ArchSpec(
            frontend=v["frontend"],
            n_mels=v["n_mels"],
            subsampling=v["subsampling"],
            subsampling_factor=factor,
            subsampling_channels=self.space.subsampling_channels,
            time_reduction_layer=position,
            encoder=block.encoder,
            attention=attention,
            attention_window=window,
            layers=tuple(self._layer(block, v, i) for i in range(depth)),
            streaming=stream,
            decoder=self._decoder(block, v),
            dropout=self.space.dropout,
        )

    def _block(self, encoder: str, streaming: bool) -> _Block:
        for key in ((encoder, streaming), (encoder, not streaming)):
            if key in self._blocks:
                return self._blocks[key]
        same_mode = [b for (_, st), b in self._blocks.items() if st == streaming]
        return (same_mode or list(self._blocks.values()))[0]

    @staticmethod
    def _attention(block: _Block, attention: str, window: int) -> tuple[str, int]:
        if block.encoder not in ATTENTION_ENCODERS:
            return block.attentions[0]
        pair = (attention, window if attention == "local" else 16)
        if pair in block.attentions:
            return pair
        same = [p for p in block.attentions if p[0] == attention]
        if same:
            return min(same, key=lambda p: abs(p[1] - window))
        return block.attentions[0]

    def _decoder(self, block: _Block, v: dict[str, Any]) -> DecoderSpec:
        kinds = [d.kind for d in block.decoders]
        kind = v["decoder"] if v["decoder"] in kinds else kinds[0]
        wanted = {
            "predictor": v["predictor"],
            "dim": v["decoder_dim"],
            "num_layers": v["decoder_layers"],
            "heads": v["decoder_heads"],
        }
        return min(
            (d for d in block.decoders if d.kind == kind),
            key=lambda d: self._distance(d.active(), wanted, _DECODER_DECISION),
        )

    def _layer(self, block: _Block, v: dict[str, Any], i: int) -> LayerSpec:
        used = active_layer_fields(block.encoder)
        wanted = {f: v[f"L{i}.{f}"] for f in used}
        # The fields the wanted block uses (a conv block's heads do not matter).
        wanted = {
            f: x
            for f, x in wanted.items()
            if f in layer_identity(block.encoder, LayerSpec(block=wanted.get("block", "full")))
        }
        exact = self._layer_options[(block.encoder, block.streaming)].get(
            tuple(sorted(wanted.items()))
        )
        if exact is not None:
            return exact
        return min(
            block.layer_options,
            key=lambda lay: self._distance(
                {f: getattr(lay, f) for f in used}, wanted, _LAYER_DECISION
            ),
        )

    def _distance(
        self, have: Mapping[str, Any], wanted: Mapping[str, Any], names: Mapping[str, str]
    ) -> tuple[int, int]:
        """Fields that differ, then index steps between them (for nearest-choice repairs)."""
        differ = [f for f, x in wanted.items() if f in have and have[f] != x]
        steps = 0
        for f in differ:
            d = self._every[names[f]]
            steps += abs(
                _nearest(d.choices, have[f], d.ordered) - _nearest(d.choices, wanted[f], d.ordered)
            )
        return len(differ), steps

    # --- spec -> indices -----------------------------------------------------------------

    def encode(self, spec: ArchSpec) -> dict[str, int]:
        """Indices that decode to ``spec`` (or, outside the space, to its nearest choices).

        Layer slots past the spec's depth repeat its last layer, so a strategy that adds a
        layer adds a copy of the deepest one.
        """
        kept = spec.kept_layers
        stream = spec.streaming
        target: dict[str, Any] = {
            "encoder": spec.encoder,
            "streaming": stream is not None,
            "frontend": spec.frontend,
            "n_mels": spec.n_mels,
            "subsampling": spec.subsampling,
            "factor": spec.subsampling_factor,
            "depth": len(kept),
            "reduction_at": spec.reduction_position,
            "attention": spec.attention,
            "window": spec.attention_window,
            "chunk": stream.chunk if stream else None,
            "left_context": stream.left_context if stream else None,
            "lookahead": stream.lookahead if stream else None,
            "decoder": spec.decoder.kind,
            "predictor": spec.decoder.predictor,
            "decoder_dim": spec.decoder.dim,
            "decoder_layers": spec.decoder.num_layers,
            "decoder_heads": spec.decoder.heads,
        }
        for i in range(self.space.max_layers):
            layer = kept[min(i, len(kept) - 1)]
            for f in LAYER_FIELDS:
                target[f"L{i}.{f}"] = getattr(layer, f)
        return {d.name: _nearest(d.choices, target[d.name], d.ordered) for d in self.decisions}

    def project(self, spec: ArchSpec) -> ArchSpec:
        """The architecture of the space nearest to ``spec`` (``spec`` itself if inside)."""
        return self.decode(self.encode(spec))
