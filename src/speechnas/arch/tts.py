"""``TTSSpec``: one non-autoregressive text-to-speech acoustic model, frozen and
JSON-serialisable, as :class:`~speechnas.arch.ArchSpec` is one recogniser.

The model it describes (FastSpeech 2 and LightSpeech's family): token embeddings (characters
or phonemes) -> encoder blocks -> a duration predictor, whose durations the length regulator
uses to repeat each token's vector over its mel frames -> optional pitch and energy
predictors (their quantised values embedded and added) -> decoder blocks -> a linear
projection to ``n_mels`` bands. Every block has the model's ``width``:

* ``transformer``: self-attention with ``heads`` heads, then a feed-forward network of
  ``ffn_expansion * width`` hidden units;
* ``conv``: a 1-D convolution of ``kernel`` taps over time, then the feed-forward network;
* ``dsconv``: a depthwise-separable convolution (depthwise ``kernel`` taps, then pointwise),
  then the feed-forward network: LightSpeech's cheap block.

A field a block's kind does not use (a ``transformer``'s kernel, a convolution's heads) does
not count: two specs that differ only there are the same model and share an id
(:meth:`TTSSpec.arch_id`); :meth:`TTSBlock.normalised` sets those fields to their defaults,
as the space's blocks have them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["TTS_BLOCKS", "TTSBlock", "TTSSpec"]

#: The kinds of encoder and decoder block.
TTS_BLOCKS = ("transformer", "conv", "dsconv")

#: The text units a model reads.
TEXT_UNITS = ("char", "phoneme")


@dataclass(frozen=True)
class TTSBlock:
    """One encoder or decoder block (module docstring).

    Raises:
        ValueError: an unknown kind, or a kernel, head count or expansion out of range
            (each named).
    """

    kind: str = "transformer"
    kernel: int = 9
    heads: int = 2
    ffn_expansion: float = 4.0

    def __post_init__(self) -> None:
        if self.kind not in TTS_BLOCKS:
            raise ValueError(f"TTSBlock.kind={self.kind!r}; expected one of {TTS_BLOCKS}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"TTSBlock.kernel={self.kernel!r}; expected an odd count >= 1")
        if self.heads < 1:
            raise ValueError(f"TTSBlock.heads={self.heads!r}; expected >= 1")
        if not self.ffn_expansion > 0:
            raise ValueError(f"TTSBlock.ffn_expansion={self.ffn_expansion!r}; expected > 0")

    def normalised(self) -> TTSBlock:
        """This block with the fields its kind does not use at their defaults."""
        default = TTSBlock()
        if self.kind == "transformer":
            return dataclasses.replace(self, kernel=default.kernel)
        return dataclasses.replace(self, heads=default.heads)

    def identity(self) -> dict[str, Any]:
        """The fields its kind uses."""
        if self.kind == "transformer":
            return {"kind": self.kind, "heads": self.heads, "ffn_expansion": self.ffn_expansion}
        return {"kind": self.kind, "kernel": self.kernel, "ffn_expansion": self.ffn_expansion}


@dataclass(frozen=True)
class TTSSpec:
    """A non-autoregressive acoustic model (module docstring).

    Attributes:
        width: every block's and embedding's width.
        encoder, decoder: their blocks, first to last.
        duration_layers, duration_kernel: the duration predictor's convolution layers
            (FastSpeech's variance predictor: convolution, ReLU, layer norm, dropout).
        pitch, energy: predict (and condition the decoder on) per-frame pitch / energy.
        text_units: ``char`` or ``phoneme``.
        n_mels: mel bands the decoder predicts.
        dropout: dropout rate throughout.

    Raises:
        ValueError: naming the first invalid field (a head count that does not divide the
            width included).
    """

    width: int = 256
    encoder: tuple[TTSBlock, ...] = (TTSBlock(),) * 4
    decoder: tuple[TTSBlock, ...] = (TTSBlock(),) * 4
    duration_layers: int = 2
    duration_kernel: int = 3
    pitch: bool = True
    energy: bool = True
    text_units: str = "phoneme"
    n_mels: int = 80
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"TTSSpec.width={self.width!r}; expected >= 1")
        for part in ("encoder", "decoder"):
            blocks = getattr(self, part)
            if not blocks or not all(isinstance(b, TTSBlock) for b in blocks):
                raise ValueError(f"TTSSpec.{part}: expected at least one TTSBlock")
            for i, b in enumerate(blocks):
                if b.kind == "transformer" and self.width % b.heads:
                    raise ValueError(
                        f"TTSSpec.{part}[{i}].heads={b.heads} does not divide width={self.width}"
                    )
        if self.duration_layers < 1 or self.duration_kernel < 1 or self.duration_kernel % 2 == 0:
            raise ValueError(
                f"TTSSpec.duration_layers={self.duration_layers}, duration_kernel="
                f"{self.duration_kernel}; expected >= 1 layer and an odd kernel"
            )
        if self.text_units not in TEXT_UNITS:
            raise ValueError(f"TTSSpec.text_units={self.text_units!r}; expected {TEXT_UNITS}")
        if self.n_mels < 1:
            raise ValueError(f"TTSSpec.n_mels={self.n_mels!r}; expected >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"TTSSpec.dropout={self.dropout!r}; expected a rate in [0, 1)")

    def canonical(self) -> dict[str, Any]:
        """The parameters that shape the model (every block by the fields its kind uses)."""
        out = dataclasses.asdict(self)
        out["encoder"] = [b.identity() for b in self.encoder]
        out["decoder"] = [b.identity() for b in self.decoder]
        return out

    @property
    def arch_id(self) -> str:
        """16 hex digits of the SHA-256 of :meth:`canonical`."""
        text = json.dumps(self.canonical(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def summary(self) -> str:
        """One line, e.g. ``tts w256 enc dsconv5/dsconv9/tf2 dec tf2x4 · pitch energy``."""

        def short(b: TTSBlock) -> str:
            return f"tf{b.heads}" if b.kind == "transformer" else f"{b.kind}{b.kernel}"

        def blocks(bs: tuple[TTSBlock, ...]) -> str:
            names = [short(b) for b in bs]
            return f"{names[0]}x{len(names)}" if len(set(names)) == 1 else "/".join(names)

        variance = " ".join(x for x in ("pitch", "energy") if getattr(self, x)) or "durations"
        return (
            f"tts w{self.width} enc {blocks(self.encoder)} dec {blocks(self.decoder)} · "
            f"{variance} · {self.text_units}"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TTSSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        data = dict(data)
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"TTSSpec: unknown key(s) {unknown}")
        for part in ("encoder", "decoder"):
            if part in data:
                blocks = data[part]
                if not isinstance(blocks, list | tuple):
                    raise ValueError(f"TTSSpec.{part}: expected a list of blocks")
                parsed = []
                for i, b in enumerate(blocks):
                    if not isinstance(b, dict):
                        raise ValueError(f"TTSSpec.{part}[{i}]: expected a mapping")
                    extra = sorted(set(b) - {f.name for f in dataclasses.fields(TTSBlock)})
                    if extra:
                        raise ValueError(f"TTSSpec.{part}[{i}]: unknown key(s) {extra}")
                    parsed.append(TTSBlock(**b))
                data[part] = tuple(parsed)
        return cls(**data)
