"""``build_model``: the one place an :class:`~speechnas.arch.ArchSpec` becomes a module."""

from __future__ import annotations

from torch import nn

from speechnas.arch import ArchSpec
from speechnas.features import SpecAugment, build_frontend
from speechnas.models.conformer import conformer_encoder
from speechnas.models.ctc import CTCHead
from speechnas.models.model import SpeechModel

__all__ = ["build_model"]


def build_model(spec: ArchSpec, *, vocab_size: int, specaugment: bool = True) -> SpeechModel:
    """Build the model that ``spec`` describes, with an output layer of ``vocab_size`` tokens.

    Args:
        spec: The architecture.
        vocab_size: Output tokens including the CTC blank (id 0).
        specaugment: Add SpecAugment (active in training mode only).
    """
    frontend = build_frontend(spec.frontend, n_mels=spec.n_mels)
    encoder: nn.Module
    if spec.encoder == "conformer":
        encoder = conformer_encoder(
            in_features=frontend.num_features,
            d_model=spec.d_model,
            num_layers=spec.num_layers,
            num_heads=spec.num_heads,
            ffn_expansion=spec.ffn_expansion,
            conv_kernel=spec.conv_kernel,
            subsampling_factor=spec.subsampling_factor,
            subsampling_channels=spec.subsampling_channels,
            activation=spec.activation,
            dropout=spec.dropout,
        )
    else:  # pragma: no cover - ArchSpec validation rejects other names
        raise ValueError(f"encoder={spec.encoder!r} is not buildable")
    head = CTCHead(d_model=spec.d_model, vocab_size=vocab_size)
    return SpeechModel(
        frontend=frontend,
        encoder=encoder,
        head=head,
        specaugment=SpecAugment() if specaugment else None,
    )
