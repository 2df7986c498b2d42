"""CTC output head: a linear projection to the vocabulary, the CTC loss and greedy decoding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CTCHead", "greedy_ctc_collapse"]


def greedy_ctc_collapse(best: list[int], blank: int = 0) -> list[int]:
    """Collapse a best path: merge repeats, then drop blanks (``a a - a b`` -> ``a a b``)."""
    out: list[int] = []
    prev = None
    for tok in best:
        if tok != prev and tok != blank:
            out.append(tok)
        prev = tok
    return out


class CTCHead(nn.Module):
    """Projects encoder output to token log-probabilities; token 0 is the blank.

    Args:
        d_model: D, encoder width.
        vocab_size: V, including the blank.
    """

    blank = 0

    def __init__(self, *, d_model: int, vocab_size: int) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size!r} must be >= 2 (blank + one token)")
        self.proj = nn.Linear(d_model, vocab_size)

    def log_probs(self, enc: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, V) log-probabilities."""
        return torch.log_softmax(self.proj(enc), dim=-1)

    def loss(self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """Mean over the batch of each utterance's CTC negative log-likelihood.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames.
            targets: (B, U) token ids, padded with anything.
            target_lens: (B,) valid tokens.

        Returns:
            Scalar loss. Utterances whose targets cannot be aligned (too short for their
            labels) contribute zero instead of infinity.
        """
        lp = self.log_probs(enc).transpose(0, 1)  # (B, T, V) -> (T, B, V) as ctc_loss expects
        per_utt = nn.functional.ctc_loss(
            lp.float(),
            targets,
            enc_lens,
            target_lens,
            blank=self.blank,
            reduction="none",
            zero_infinity=True,
        )
        return per_utt.mean()

    @torch.no_grad()
    def greedy_decode(self, enc: Tensor, enc_lens: Tensor) -> list[list[int]]:
        """Best-path decoding: argmax per frame, merge repeats, drop blanks."""
        best = self.proj(enc).argmax(dim=-1)  # (B, T)
        return [
            greedy_ctc_collapse(best[i, : int(enc_lens[i])].tolist(), self.blank)
            for i in range(best.shape[0])
        ]
