"""Convolutional time subsampling in front of an encoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechnas.models._masks import zero_padding

__all__ = ["Conv2dSubsampling", "subsampling_strides"]

_STRIDES = {2: (2,), 4: (2, 2), 6: (2, 3), 8: (2, 2, 2)}


def subsampling_strides(factor: int) -> tuple[int, ...]:
    """Time strides of the conv stack whose product is ``factor``."""
    if factor not in _STRIDES:
        raise ValueError(f"subsampling factor={factor!r} is invalid; expected {sorted(_STRIDES)}")
    return _STRIDES[factor]


class Conv2dSubsampling(nn.Module):
    """Stacked 3x3 Conv2d + ReLU over (time, frequency), then a projection to ``d_model``.

    Each layer strides time by its factor and frequency by 2, with padding 1, so a length
    ``L`` becomes ``(L - 1) // s + 1``. Padded frames are zeroed after every layer.

    Args:
        in_features: F, features per input frame.
        d_model: D, output width.
        factor: total time reduction, one of 2, 4, 6, 8.
        channels: convolution channels (default ``d_model``).
    """

    def __init__(
        self, *, in_features: int, d_model: int, factor: int, channels: int | None = None
    ) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"in_features={in_features!r} must be >= 1")
        self.strides = subsampling_strides(factor)
        channels = channels or d_model
        convs = []
        in_ch, freq = 1, in_features
        for s in self.strides:
            convs.append(nn.Conv2d(in_ch, channels, 3, stride=(s, 2), padding=1))
            in_ch, freq = channels, (freq - 1) // 2 + 1
        self.convs = nn.ModuleList(convs)
        self.proj = nn.Linear(channels * freq, d_model)

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, F), (B,) -> (B, T', D), (B,)."""
        h = x.unsqueeze(1)  # (B, T, F) -> (B, 1, T, F)
        lens = x_lens
        for conv, s in zip(self.convs, self.strides, strict=True):
            h = torch.relu(conv(h))
            lens = torch.div(lens - 1, s, rounding_mode="floor") + 1
            # (B, C, T', F') -> zero frames past each length, along T'
            h = zero_padding(h.transpose(1, 2), lens).transpose(1, 2)
        b, c, t, f = h.shape
        h = h.permute(0, 2, 1, 3).reshape(b, t, c * f)  # (B, C, T', F') -> (B, T', C*F')
        return self.proj(h), lens
