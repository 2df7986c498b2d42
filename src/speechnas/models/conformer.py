"""Conformer encoder layer (Gulati et al., 2020): macaron feed-forwards around attention and
convolution.

Legend: B batch, T frames, C ``in_width``, D ``width``, F feed-forward hidden width,
K convolution kernel.

Every part keeps padded frames out of valid ones: attention masks padded keys and the
depthwise convolution zeroes padded frames first, so an utterance's output does not depend on
its neighbours in the batch. A causal layer uses chunked attention and a causal convolution,
and streams whole chunks at a time (:attr:`ConformerLayer.step_multiple` is the chunk).
"""

from __future__ import annotations

from torch import Tensor, nn

from speechnas.arch import BLOCKS
from speechnas.models._blocks import Dropout, Norm, TimeConv, make_activation
from speechnas.models._layer import EncoderLayer
from speechnas.models._masks import zero_padding
from speechnas.models.attention import AttentionState, SelfAttention, check_attention_layer
from speechnas.models.transformer import FeedForward

__all__ = ["ConformerLayer", "ConformerState"]

#: Stream state: the attention's (key cache, value cache, position) and the depthwise
#: convolution's last ``kernel - 1`` input frames ``(B, K - 1, D)``; ``()`` for the module a
#: block does not have.
ConformerState = tuple["AttentionState | tuple[()]", "Tensor | tuple[()]"]


class _ConvModule(nn.Module):
    """LayerNorm, Linear(D -> 2D), GLU, depthwise conv, Norm, activation, Linear, dropout.

    ``(B, T, D) -> (B, T, D)``; the depthwise convolution is centred or causal.
    """

    def __init__(
        self, width: int, kernel: int, activation: str, norm: str, causal: bool, dropout: float
    ) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(width)
        self.pointwise_in = nn.Linear(width, 2 * width)
        self.depthwise = TimeConv(width, width, kernel, groups=width, causal=causal)
        self.norm = Norm(norm, width)
        self.act = make_activation(activation)
        self.pointwise_out = nn.Linear(width, width)
        self.dropout = Dropout(dropout)

    def _gated(self, x: Tensor) -> Tensor:
        # (B, T, D) -> (B, T, 2D) -> GLU over channels -> (B, T, D)
        return nn.functional.glu(self.pointwise_in(self.norm_in(x)), dim=-1)

    def _output(self, h: Tensor, x_lens: Tensor | None) -> Tensor:
        h = self.pointwise_out(self.act(self.norm(h, x_lens)))
        return self.dropout(h)  # type: ignore[no-any-return]

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        # TimeConv zeroes the padded frames of its input (non-zero here: norm and GLU biases).
        return self._output(self.depthwise(self._gated(x), x_lens), x_lens)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h, state = self.depthwise.step(self._gated(x), state)
        return self._output(h, None), state


class ConformerLayer(EncoderLayer):
    """A Conformer layer: half FFN, self-attention, convolution module, half FFN, LayerNorm.

    ``h = proj(x)`` (a Linear when ``in_width != width``, else ``x``), then

    * ``h = h + 0.5 * FFN(LayerNorm(h))``
    * ``h = h + dropout(MHSA(LayerNorm(h)))``
    * ``h = h + ConvModule(h)``: LayerNorm, ``Linear(D -> 2D)``, GLU, depthwise convolution
      of ``kernel`` frames, ``Norm(norm)`` (batchnorm in the paper), activation,
      ``Linear(D -> D)``, dropout
    * ``h = h + 0.5 * FFN2(LayerNorm(h))``; ``y = LayerNorm(h)`` with padded frames zeroed.

    ``block="attention"`` leaves out the convolution module, ``block="conv"`` the attention
    (and ``heads`` is then unused).

    FFN is ``Linear(D -> F)``, activation, dropout, ``Linear(F -> D)``, dropout. A causal layer
    uses chunked attention and a causal convolution, and streams with state
    :data:`ConformerState`; every step but a stream's last gets a multiple of ``chunk`` frames.

    Args:
        in_width: Input channels ``C``.
        width: Model and output width ``D``.
        heads: Attention heads; must divide ``width``.
        kernel: Depthwise convolution kernel in frames (odd unless causal).
        ffn_expansion: Feed-forward hidden width ``F = round(width * ffn_expansion)``.
        activation: ``swish``, ``gelu`` or ``relu`` (feed-forwards and convolution module).
        norm: ``layernorm`` or ``batchnorm`` (length-masked) after the depthwise convolution.
        attention: ``abs``, ``rel``, ``local`` or ``linear``.
        window: Frames each side that ``local`` attention sees.
        causal: Chunked attention, causal convolution and streaming; needs ``chunk`` and
            ``left_context``.
        chunk: Frames per attention chunk (causal only).
        left_context: Frames before its chunk a query sees (causal only).
        dropout: Dropout probability in training (attention weights, block outputs).
        block: ``full``, ``attention`` (no convolution module) or ``conv`` (no attention).

    Raises:
        ValueError: Naming the argument and value, for a non-positive width, ``heads`` not
            dividing ``width``, a bad kernel, ``ffn_expansion``, activation, norm, attention,
            ``window`` or ``dropout``, or streaming arguments that do not fit ``causal``.

    Example:
        >>> import torch
        >>> layer = ConformerLayer(
        ...     in_width=16, width=24, heads=4, kernel=5, ffn_expansion=2.0,
        ...     activation="swish", norm="batchnorm", attention="rel",
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
        kernel: int,
        ffn_expansion: float,
        activation: str,
        norm: str,
        attention: str,
        window: int = 16,
        causal: bool = False,
        chunk: int | None = None,
        left_context: int | None = None,
        dropout: float = 0.0,
        block: str = "full",
    ) -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block={block!r} is invalid; expected one of {BLOCKS}")
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
        self.kernel = kernel
        self.hidden = hidden
        self.causal = causal
        self.step_multiple = chunk if causal and chunk is not None else 1
        self.proj: nn.Module = nn.Linear(in_width, width) if in_width != width else nn.Identity()
        self.ffn1_norm = nn.LayerNorm(width)
        self.ffn1 = FeedForward(width, hidden, activation, dropout)
        self.block = block
        self.attn_norm: nn.Module | None = None
        self.attn: SelfAttention | None = None
        if block != "conv":
            self.attn_norm = nn.LayerNorm(width)
            self.attn = SelfAttention(
                width=width,
                heads=heads,
                kind=attention,
                window=window,
                chunk=chunk,
                left_context=left_context,
                dropout=dropout,
            )
        self.conv: _ConvModule | None = None
        if block != "attention":
            self.conv = _ConvModule(width, kernel, activation, norm, causal, dropout)
        self.ffn2_norm = nn.LayerNorm(width)
        self.ffn2 = FeedForward(width, hidden, activation, dropout)
        self.out_norm = nn.LayerNorm(width)
        self.dropout = Dropout(dropout)

    def residual_outputs(self) -> list[nn.Module]:
        outputs = [self.ffn1.output]
        if self.attn is not None:
            outputs.append(self.attn.out)
        if self.conv is not None:
            outputs.append(self.conv.pointwise_out)
        return [*outputs, self.ffn2.output]

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """(B, T, C), (B,) -> (B, T, D); padded output frames are zero."""
        h = self.proj(x)  # (B, T, D)
        h = h + 0.5 * self.ffn1(self.ffn1_norm(h))
        if self.attn is not None and self.attn_norm is not None:
            h = h + self.dropout(self.attn(self.attn_norm(h), x_lens))
        if self.conv is not None:
            h = h + self.conv(h, x_lens)
        h = h + 0.5 * self.ffn2(self.ffn2_norm(h))
        return zero_padding(self.out_norm(h), x_lens)

    def initial_state(self, batch_size: int) -> ConformerState:
        """Causal layers only: empty attention caches and zero convolution history."""
        if not self.causal:
            return super().initial_state(batch_size)  # type: ignore[no-any-return]
        attn = self.attn.initial_state(batch_size) if self.attn is not None else ()
        conv = self.conv.depthwise.initial_state(batch_size) if self.conv is not None else ()
        return attn, conv

    def step(
        self, x: Tensor, state: ConformerState, valid: int | Tensor | None = None
    ) -> tuple[Tensor, ConformerState]:
        """(B, T_step, C) and state -> (B, T_step, D) and the new state.

        ``T_step`` is a multiple of ``chunk`` except on a stream's last step.
        """
        if not self.causal:
            return super().step(x, state)
        attn_state, conv_state = state
        h = self.proj(x)
        h = h + 0.5 * self.ffn1(self.ffn1_norm(h))
        if self.attn is not None and self.attn_norm is not None:
            a, attn_state = self.attn.step(self.attn_norm(h), attn_state, valid)  # type: ignore[arg-type]
            h = h + self.dropout(a)
        if self.conv is not None:
            c, conv_state = self.conv.step(h, conv_state)  # type: ignore[arg-type]
            h = h + c
        h = h + 0.5 * self.ffn2(self.ffn2_norm(h))
        return self.out_norm(h), (attn_state, conv_state)

    def macs(self, num_frames: int) -> int:
        t, c, d = num_frames, self.in_width, self.width
        proj = t * c * d if c != d else 0
        ffns = 2 * (2 * t * d * self.hidden)
        total = proj + ffns
        if self.conv is not None:  # pointwise, depthwise, pointwise
            total += t * d * 2 * d + t * d * self.kernel + t * d * d
        if self.attn is not None:
            total += self.attn.macs(t)
        return total

    def activation_elements(self, num_frames: int) -> int:
        # x (T * C) is alive throughout and h (T * D) from the projection on. Busiest:
        # * a feed-forward: h, its normalised copy, the hidden pre-activation and activation
        #   (2 * T * F) and the block output;
        # * attention: h and its normalised copy (the attention's input, counted by it);
        # * the depthwise convolution: h, the GLU output, its zeroed and time-padded copies
        #   ((T + K - 1) * D), the raw and the zeroed convolution output;
        # * the end: h, the normalised and the zeroed output.
        t, c, d, f = num_frames, self.in_width, self.width, self.hidden
        ffn = 3 * t * d + 2 * t * f
        attention = t * d + self.attn.activation_elements(t) if self.attn is not None else 0
        conv = 5 * t * d + (t + self.kernel - 1) * d if self.conv is not None else 0
        return t * c + max(ffn, attention, conv, 3 * t * d)
