"""The output-head interface shared by CTC, transducer and attention decoders.

Legend: B batch, T encoder frames, D encoder width, U target tokens, V vocabulary.
"""

from __future__ import annotations

import abc

from torch import Tensor, nn

__all__ = ["Head"]


class Head(nn.Module, abc.ABC):
    """An output head on top of an encoder.

    Contract every head keeps (checked by ``tests/models/test_heads.py``):

    * Token ids run over ``0 .. V - 1``; id 0 is reserved (the CTC/transducer blank, the
      attention decoder's start/end symbol) and never appears in targets.
    * ``loss(enc (B, T, D), enc_lens (B,), targets (B, U) int64 padded, target_lens (B,))``
      returns a finite scalar: the mean over the batch of each utterance's loss; an
      utterance's loss does not depend on the other items of its batch or on padding values.
    * ``greedy_decode(enc, enc_lens)`` and ``beam_decode(enc, enc_lens, beam_size)`` return
      one list of token ids (no id 0) per utterance; call them under ``torch.no_grad`` in eval
      mode. Beam search finds a hypothesis that scores (under the head's own model) at least
      as well as the greedy one; each head's tests check this against its greedy decoding.
    * ``macs(num_frames, num_tokens)``: multiply-accumulates of decoding one utterance of
      ``num_frames`` encoder frames into ``num_tokens`` tokens, counted analytically.
    """

    @abc.abstractmethod
    def loss(self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """Mean training loss over the batch."""

    @abc.abstractmethod
    def greedy_decode(self, enc: Tensor, enc_lens: Tensor) -> list[list[int]]:
        """Best-path token ids per utterance."""

    @abc.abstractmethod
    def beam_decode(self, enc: Tensor, enc_lens: Tensor, beam_size: int = 4) -> list[list[int]]:
        """Beam-search token ids per utterance."""

    @abc.abstractmethod
    def macs(self, num_frames: int, num_tokens: int) -> int:
        """Analytic multiply-accumulates of decoding one utterance."""
