"""``SpeechModel``: front-end, SpecAugment, encoder and output head in one module.

Legend: B batch, S samples, T frames, D width, U target tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechnas.models.ctc import CTCHead

__all__ = ["SpeechModel"]


class SpeechModel(nn.Module):
    """Waveform in, tokens out.

    Args:
        frontend: ``(wave (B, S), wave_lens) -> (feats (B, T, F), feat_lens)``.
        encoder: ``(feats, feat_lens) -> (enc (B, T', D), enc_lens)``.
        head: an output head with ``loss`` and ``greedy_decode``.
        specaugment: applied to features in training mode only (``None`` for none).
    """

    def __init__(
        self,
        *,
        frontend: nn.Module,
        encoder: nn.Module,
        head: CTCHead,
        specaugment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.specaugment = specaugment
        self.encoder = encoder
        self.head = head

    def encode(
        self, wave: Tensor, wave_lens: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(B, S), (B,) -> (B, T', D), (B,).

        In training mode SpecAugment draws its masks from ``generator``; without one, no
        masks are applied.
        """
        feats, feat_lens = self.frontend(wave, wave_lens)
        if self.specaugment is not None and self.training and generator is not None:
            feats, feat_lens = self.specaugment(feats, feat_lens, generator)
        enc, enc_lens = self.encoder(feats, feat_lens)
        return enc, enc_lens

    def forward(
        self,
        wave: Tensor,
        wave_lens: Tensor,
        targets: Tensor,
        target_lens: Tensor,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Training loss for a batch (scalar); ``generator`` drives SpecAugment."""
        enc, enc_lens = self.encode(wave, wave_lens, generator)
        return self.head.loss(enc, enc_lens, targets, target_lens)

    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        """Greedy token ids per utterance (call in eval mode, under ``torch.no_grad``)."""
        enc, enc_lens = self.encode(wave, wave_lens)
        return self.head.greedy_decode(enc, enc_lens)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
