"""Hand-designed architectures, by name."""

from __future__ import annotations

from speechnas.arch import ArchSpec

__all__ = ["PRESETS", "preset"]

PRESETS: dict[str, ArchSpec] = {
    # About 1 M parameters: trains in minutes on two CPU cores.
    "conformer-ctc-xs": ArchSpec(
        d_model=96, num_layers=3, num_heads=4, ffn_expansion=3.0, conv_kernel=15, n_mels=80
    ),
    # About 4 M parameters.
    "conformer-ctc-small": ArchSpec(
        d_model=144, num_layers=6, num_heads=4, ffn_expansion=4.0, conv_kernel=15, n_mels=80
    ),
}


def preset(name: str) -> ArchSpec:
    """Return the preset ``name``; raise ``ValueError`` listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None
