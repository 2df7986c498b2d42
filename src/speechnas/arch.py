"""``ArchSpec``: an architecture as data.

A spec is a frozen, JSON-serialisable dataclass. Strategies, stores and reports handle specs
only; :func:`speechnas.models.build_model` is the one place a spec becomes an ``nn.Module``.
``arch_id`` hashes the canonical JSON of the spec, so equal specs share one id.

Example:
    >>> spec = ArchSpec(d_model=96, num_layers=2)
    >>> ArchSpec.from_json(spec.to_json()) == spec
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["ArchSpec", "FRONTENDS", "ENCODERS", "DECODERS"]

FRONTENDS = ("logmel", "mfcc", "learnable")
ENCODERS = ("conformer",)
DECODERS = ("ctc",)
_N_MELS = (40, 64, 80)
_SUBSAMPLING = (2, 4, 6, 8)
_ACTIVATIONS = ("swish", "gelu", "relu")


@dataclass(frozen=True)
class ArchSpec:
    """A speech recognition architecture.

    Attributes:
        frontend: Feature front-end name, one of ``FRONTENDS``.
        n_mels: Mel bands of the front-end (40, 64 or 80).
        subsampling_factor: Total time reduction of the convolutional subsampling (2, 4, 6, 8).
        subsampling_channels: Channels of the subsampling convolutions.
        encoder: Encoder family, one of ``ENCODERS``.
        d_model: Encoder width.
        num_layers: Number of encoder blocks.
        num_heads: Attention heads; must divide ``d_model``.
        ffn_expansion: FFN hidden size as a multiple of ``d_model``.
        conv_kernel: Depthwise convolution kernel size (odd).
        activation: ``swish``, ``gelu`` or ``relu``.
        dropout: Dropout probability used in training.
        decoder: Output head, one of ``DECODERS``.
    """

    frontend: str = "logmel"
    n_mels: int = 80
    subsampling_factor: int = 4
    subsampling_channels: int = 32
    encoder: str = "conformer"
    d_model: int = 144
    num_layers: int = 4
    num_heads: int = 4
    ffn_expansion: float = 4.0
    conv_kernel: int = 15
    activation: str = "swish"
    dropout: float = 0.1
    decoder: str = "ctc"

    def __post_init__(self) -> None:
        def bad(name: str, allowed: object) -> ValueError:
            value = getattr(self, name)
            return ValueError(f"ArchSpec.{name}={value!r} is invalid; expected {allowed}")

        if self.frontend not in FRONTENDS:
            raise bad("frontend", f"one of {FRONTENDS}")
        if self.n_mels not in _N_MELS:
            raise bad("n_mels", f"one of {_N_MELS}")
        if self.subsampling_factor not in _SUBSAMPLING:
            raise bad("subsampling_factor", f"one of {_SUBSAMPLING}")
        if self.encoder not in ENCODERS:
            raise bad("encoder", f"one of {ENCODERS}")
        if self.decoder not in DECODERS:
            raise bad("decoder", f"one of {DECODERS}")
        if self.activation not in _ACTIVATIONS:
            raise bad("activation", f"one of {_ACTIVATIONS}")
        if self.subsampling_channels < 1:
            raise bad("subsampling_channels", ">= 1")
        if self.d_model < 8:
            raise bad("d_model", ">= 8")
        if self.num_layers < 1:
            raise bad("num_layers", ">= 1")
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise bad("num_heads", f"a positive divisor of d_model={self.d_model}")
        if self.ffn_expansion <= 0:
            raise bad("ffn_expansion", "> 0")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise bad("conv_kernel", "an odd positive integer")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"ArchSpec: unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        return cls.from_dict(json.loads(text))

    @property
    def arch_id(self) -> str:
        """A 16-hex-digit hash of the canonical JSON: equal specs give equal ids."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
