"""Length masks shared by every encoder and head."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["lengths_to_mask", "zero_padding"]


def lengths_to_mask(lens: Tensor, max_len: int) -> Tensor:
    """``(B,)`` lengths -> ``(B, T)`` bool mask, True on valid frames."""
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


def zero_padding(x: Tensor, lens: Tensor) -> Tensor:
    """Zero the frames of ``x`` (B, T, ...) beyond each item's length.

    Convolutions see padded frames; zeroing them keeps an utterance's output independent of
    the other items in its batch (padding invariance).
    """
    mask = lengths_to_mask(lens, x.shape[1])
    return x * mask.view(*mask.shape, *([1] * (x.dim() - 2))).to(x.dtype)
