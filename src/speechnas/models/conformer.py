"""Conformer encoder (Gulati et al., 2020): macaron FFNs around self-attention and convolution.

Shapes: B batch, T frames, D ``d_model``. Every module takes ``(x, x_lens)`` and keeps padded
frames out of the valid ones: attention masks padded keys, the convolution module zeroes
padded frames before its depthwise convolution.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from speechnas.models._masks import lengths_to_mask, zero_padding
from speechnas.models.subsampling import Conv2dSubsampling

__all__ = ["ConformerEncoder", "conformer_encoder"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"swish": nn.SiLU, "gelu": nn.GELU, "relu": nn.ReLU}


def _sinusoids(length: int, dim: int, device: torch.device) -> Tensor:
    """(T, D) absolute sinusoidal position table; every utterance starts at position 0."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


class _FeedForward(nn.Module):
    def __init__(self, d_model: int, hidden: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, hidden),
            _ACTIVATIONS[activation](),
            nn.Dropout(dropout),
            nn.Linear(hidden, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # type: ignore[no-any-return]


class _SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, pad_mask: Tensor) -> Tensor:
        h = self.norm(x)
        h, _ = self.attn(h, h, h, key_padding_mask=pad_mask, need_weights=False)
        return self.dropout(h)  # type: ignore[no-any-return]


class _ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv, norm, activation, pointwise conv.

    The norm is a LayerNorm over channels rather than the paper's BatchNorm: it needs no
    batch statistics, so outputs do not depend on padding or on the other batch items.
    """

    def __init__(self, d_model: int, kernel: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Linear(d_model, 2 * d_model)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        self.norm_mid = nn.LayerNorm(d_model)
        self.act = _ACTIVATIONS[activation]()
        self.pointwise_out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        h = nn.functional.glu(self.pointwise_in(self.norm_in(x)), dim=-1)  # (B, T, D)
        h = zero_padding(h, x_lens)
        h = self.depthwise(h.transpose(1, 2)).transpose(1, 2)  # (B, D, T) conv, back to (B, T, D)
        h = self.pointwise_out(self.act(self.norm_mid(h)))
        return self.dropout(h)  # type: ignore[no-any-return]


class _ConformerBlock(nn.Module):
    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ffn_dim: int,
        kernel: int,
        activation: str,
        dropout: float,
    ) -> None:
        super().__init__()
        self.ffn1 = _FeedForward(d_model, ffn_dim, activation, dropout)
        self.attn = _SelfAttention(d_model, num_heads, dropout)
        self.conv = _ConvModule(d_model, kernel, activation, dropout)
        self.ffn2 = _FeedForward(d_model, ffn_dim, activation, dropout)
        self.norm_out = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, x_lens: Tensor, pad_mask: Tensor) -> Tensor:
        x = x + 0.5 * self.ffn1(x)
        x = x + self.attn(x, pad_mask)
        x = x + self.conv(x, x_lens)
        x = x + 0.5 * self.ffn2(x)
        return self.norm_out(x)  # type: ignore[no-any-return]


class ConformerEncoder(nn.Module):
    """Conv2d subsampling followed by ``num_layers`` Conformer blocks.

    Use :func:`conformer_encoder` to build one. ``forward(x, x_lens)`` maps features
    ``(B, T, F)`` to ``(B, T', D)`` with ``T' = ceil-ish(T / subsampling_factor)``.
    """

    def __init__(
        self,
        subsampling: Conv2dSubsampling,
        blocks: list[_ConformerBlock],
        d_model: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.subsampling = subsampling
        self.blocks = nn.ModuleList(blocks)
        self.d_model = d_model
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        x, lens = self.subsampling(x, x_lens)  # (B, T, F) -> (B, T', D)
        x = self.dropout(x + _sinusoids(x.shape[1], self.d_model, x.device)[None])
        pad_mask = ~lengths_to_mask(lens, x.shape[1])  # True on padding, as attention expects
        for block in self.blocks:
            x = block(x, lens, pad_mask)
        return zero_padding(x, lens), lens


def conformer_encoder(
    *,
    in_features: int,
    d_model: int = 144,
    num_layers: int = 4,
    num_heads: int = 4,
    ffn_expansion: float = 4.0,
    conv_kernel: int = 15,
    subsampling_factor: int = 4,
    subsampling_channels: int = 32,
    activation: str = "swish",
    dropout: float = 0.1,
) -> ConformerEncoder:
    """Build a :class:`ConformerEncoder`; every argument is validated here."""
    if d_model % num_heads:
        raise ValueError(f"num_heads={num_heads!r} must divide d_model={d_model!r}")
    if num_layers < 1:
        raise ValueError(f"num_layers={num_layers!r} must be >= 1")
    if conv_kernel % 2 == 0:
        raise ValueError(f"conv_kernel={conv_kernel!r} must be odd")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation={activation!r}; expected one of {sorted(_ACTIVATIONS)}")
    ffn_dim = int(round(d_model * ffn_expansion))
    blocks = [
        _ConformerBlock(d_model, num_heads, ffn_dim, conv_kernel, activation, dropout)
        for _ in range(num_layers)
    ]
    sub = Conv2dSubsampling(
        in_features=in_features,
        d_model=d_model,
        factor=subsampling_factor,
        channels=subsampling_channels,
    )
    return ConformerEncoder(sub, blocks, d_model, dropout)
