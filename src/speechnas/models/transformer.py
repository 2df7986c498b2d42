"""Transformer encoder layer (pre-norm) with a choice of self-attention.

Legend: B batch, T frames, C ``in_width``, D ``width``, F feed-forward hidden width.

The layer is ``h = proj(x)``; ``h = h + dropout(MHSA(norm(h)))``; ``h = h + FFN(norm(h))``.
Attention masks padded keys and every other part is frame-local, so an utterance's output does
not depend on its neighbours in the batch. A causal layer uses chunked attention and streams
whole chunks at a time (:attr:`TransformerLayer.step_multiple` is the chunk).
"""

from __future__ import annotations

from typing import cast

from torch import Tensor, nn

from speechnas.models._blocks import Dropout, Norm, make_activation
from speechnas.models._layer import EncoderLayer
from speechnas.models._masks import zero_padding
from speechnas.models.attention import AttentionState, SelfAttention, check_attention_layer

__all__ = ["FeedForward", "TransformerLayer"]


class FeedForward(nn.Module):
    """``Linear(D -> F)``, activation, dropout, ``Linear(F -> D)``, dropout; frame-local.

    Maps ``(..., D) -> (..., D)``; it costs ``2 D F`` MACs per frame.
    """

    def __init__(self, width: int, hidden: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            make_activation(activation),
            Dropout(dropout),
            nn.Linear(hidden, width),
            Dropout(dropout),
        )

    @property
    def output(self) -> nn.Linear:
        """The ``Linear(F -> D)``."""
        return cast(nn.Linear, self.net[3])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # type: ignore[no-any-return]


class TransformerLayer(EncoderLayer):
    """A pre-norm Transformer layer: self-attention and a feed-forward block.

    ``h = proj(x)`` (a Linear when ``in_width != width``, else ``x``);
    ``h = h + dropout(MHSA(norm(h)))``; ``y = h + FFN(norm(h))`` with padded frames zeroed.
    Positions for ``abs``, ``local`` and ``linear`` attention are added to the encoder input
    elsewhere; ``rel`` attention carries its own.

    A causal layer uses chunked attention (query frames see their whole chunk and
    ``left_context`` frames before it) and streams with state
    :data:`~speechnas.models.attention.AttentionState`; every step but a stream's last gets a
    multiple of ``chunk`` frames.

    Args:
        in_width: Input channels ``C``.
        width: Model and output width ``D``.
        heads: Attention heads; must divide ``width``.
        ffn_expansion: Feed-forward hidden width ``F = round(width * ffn_expansion)``.
        activation: ``swish``, ``gelu`` or ``relu`` (feed-forward).
        norm: ``layernorm`` or ``batchnorm`` (length-masked) before each block.
        attention: ``abs``, ``rel``, ``local`` or ``linear``.
        window: Frames each side that ``local`` attention sees.
        causal: Chunked attention and streaming; needs ``chunk`` and ``left_context``.
        chunk: Frames per attention chunk (causal only).
        left_context: Frames before its chunk a query sees (causal only).
        dropout: Dropout probability in training (attention weights, block outputs).

    Raises:
        ValueError: Naming the argument and value, for a non-positive width, ``heads`` not
            dividing ``width``, a bad ``ffn_expansion``, activation, norm, attention,
            ``window`` or ``dropout``, or streaming arguments that do not fit ``causal``.

    Example:
        >>> import torch
        >>> layer = TransformerLayer(
        ...     in_width=16, width=24, heads=4, ffn_expansion=2.0, activation="gelu",
        ...     norm="layernorm", attention="rel", causal=True, chunk=4, left_context=8,
        ... ).eval()
        >>> layer(torch.randn(2, 10, 16), torch.tensor([10, 7])).shape
        torch.Size([2, 10, 24])
    """

    def __init__(
        self,
        *,
        in_width: int,
        width: int,
        heads: int,
        ffn_expansion: float,
        activation: str,
        norm: str,
        attention: str,
        window: int = 16,
        causal: bool = False,
        chunk: int | None = None,
        left_context: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = check_attention_layer(
            in_width=in_width,
            width=width,
            ffn_expansion=ffn_expansion,
            attention=attention,
            causal=causal,
            chunk=chunk,
            left_context=left_context,
            dropout=dropout,
        )
        self.in_width = in_width
        self.width = width
        self.hidden = hidden
        self.causal = causal
        self.step_multiple = chunk if causal and chunk is not None else 1
        self.proj: nn.Module = nn.Linear(in_width, width) if in_width != width else nn.Identity()
        self.attn_norm = Norm(norm, width)
        self.attn = SelfAttention(
            width=width,
            heads=heads,
            kind=attention,
            window=window,
            chunk=chunk,
            left_context=left_context,
            dropout=dropout,
        )
        self.ffn_norm = Norm(norm, width)
        self.ffn = FeedForward(width, hidden, activation, dropout)
        self.dropout = Dropout(dropout)

    def residual_outputs(self) -> list[nn.Module]:
        return [self.attn.out, self.ffn.output]

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """(B, T, C), (B,) -> (B, T, D); padded output frames are zero."""
        h = self.proj(x)  # (B, T, D)
        h = h + self.dropout(self.attn(self.attn_norm(h, x_lens), x_lens))
        h = h + self.ffn(self.ffn_norm(h, x_lens))
        return zero_padding(h, x_lens)

    def initial_state(self, batch_size: int) -> AttentionState:
        """Causal layers only: the attention's empty caches at frame 0."""
        if not self.causal:
            return super().initial_state(batch_size)  # type: ignore[no-any-return]
        return self.attn.initial_state(batch_size)

    def step(
        self, x: Tensor, state: AttentionState, valid: int | Tensor | None = None
    ) -> tuple[Tensor, AttentionState]:
        """(B, T_step, C) and state -> (B, T_step, D) and the new state.

        ``T_step`` is a multiple of ``chunk`` except on a stream's last step.
        """
        if not self.causal:
            return super().step(x, state)
        h = self.proj(x)
        a, state = self.attn.step(self.attn_norm(h), state, valid)
        h = h + self.dropout(a)
        return h + self.ffn(self.ffn_norm(h)), state

    def macs(self, num_frames: int) -> int:
        t, c, d = num_frames, self.in_width, self.width
        proj = t * c * d if c != d else 0
        return proj + self.attn.macs(t) + 2 * t * d * self.hidden

    def activation_elements(self, num_frames: int) -> int:
        # x (T * C) is alive throughout and h (T * D) from the projection on. Busiest:
        # * attention: h and its normalised copy (the attention's input, counted by it);
        # * feed-forward: h, its normalised copy, the hidden pre-activation and activation
        #   (2 * T * F) and the block output;
        # * the end: h, the sum and the zeroed output.
        t, c, d, f = num_frames, self.in_width, self.width, self.hidden
        attention = t * d + self.attn.activation_elements(t)
        ffn = 3 * t * d + 2 * t * f
        return t * c + max(attention, ffn, 3 * t * d)
