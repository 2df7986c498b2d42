"""Convolutional encoder block in the style of ContextNet / QuartzNet.

Legend: B batch, T frames, C ``in_width``, D ``width``, R the squeeze-and-excitation width.

A block is ``repeats`` separable convolutions (depthwise along time, then pointwise across
channels), a squeeze-and-excitation gate and a residual connection. Full-context blocks squeeze
with the mean over the utterance's valid frames; causal blocks with the running mean over the
frames seen so far, so the whole block streams.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from speechnas.models._blocks import Dropout, Norm, TimeConv, make_activation
from speechnas.models._layer import EncoderLayer
from speechnas.models._masks import zero_padding

__all__ = ["CNNBlock"]

# Stream state: each sub-block's convolution history (B, kernel - 1, channels), the running
# sum (B, D) of the squeezed frames and how many frames it holds.
CNNBlockState = tuple[list[Tensor], Tensor, "int | Tensor"]


class _SeparableConv(nn.Module):
    """Depthwise TimeConv -> pointwise Linear -> Norm -> activation: (B, T, c) -> (B, T, D)."""

    def __init__(
        self, in_width: int, width: int, kernel: int, activation: str, norm: str, causal: bool
    ) -> None:
        super().__init__()
        self.depthwise = TimeConv(in_width, in_width, kernel, groups=in_width, causal=causal)
        self.pointwise = nn.Linear(in_width, width)
        self.norm = Norm(norm, width)
        self.act = make_activation(activation)

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        # Padded frames come out non-zero (norm bias); the next TimeConv zeroes its input.
        h = self.pointwise(self.depthwise(x, x_lens))
        return self.act(self.norm(h, x_lens))  # type: ignore[no-any-return]

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h, state = self.depthwise.step(x, state)
        return self.act(self.norm(self.pointwise(h))), state


class CNNBlock(EncoderLayer):
    """Separable convolutions, squeeze-and-excitation and a residual connection.

    ``h = sub_blocks(x)``; ``s = mean(h)`` over the valid frames (causal: over frames ``<= t``
    for each ``t``); ``g = sigmoid(W2 act(W1 s))``; ``y = dropout(act(h * g + proj(x)))``, with
    ``proj`` a Linear when ``in_width != width`` and the identity otherwise.

    Args:
        in_width: Input channels ``C``.
        width: Output channels ``D``.
        kernel: Depthwise kernel in frames (odd unless causal).
        activation: ``swish``, ``gelu`` or ``relu``.
        norm: ``layernorm`` or ``batchnorm`` (length-masked) after each pointwise projection.
        causal: Causal convolutions and a running-mean squeeze; the block then streams.
        dropout: Dropout probability on the output, in training.
        repeats: Separable convolutions in the block (the first maps ``C -> D``).
        se_reduction: The excitation's hidden width is ``max(8, width // se_reduction)``.

    Raises:
        ValueError: For a non-positive width, ``repeats`` or ``se_reduction``, a bad
            kernel, activation or norm, or ``dropout`` outside [0, 1).

    Example:
        >>> block = CNNBlock(
        ...     in_width=16, width=24, kernel=5, activation="swish", norm="batchnorm",
        ...     causal=False,
        ... ).eval()
        >>> block(torch.randn(2, 9, 16), torch.tensor([9, 6])).shape
        torch.Size([2, 9, 24])
    """

    def __init__(
        self,
        *,
        in_width: int,
        width: int,
        kernel: int,
        activation: str,
        norm: str,
        causal: bool,
        dropout: float = 0.0,
        repeats: int = 2,
        se_reduction: int = 8,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_width", in_width),
            ("width", width),
            ("repeats", repeats),
            ("se_reduction", se_reduction),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is invalid; expected an integer >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} is invalid; expected a number in [0, 1)")
        self.in_width = in_width
        self.width = width
        self.kernel = kernel
        self.causal = causal
        self.se_width = max(8, width // se_reduction)
        self.convs = nn.ModuleList(
            _SeparableConv(in_width if i == 0 else width, width, kernel, activation, norm, causal)
            for i in range(repeats)
        )
        self.se_down = nn.Linear(width, self.se_width)
        self.se_act = make_activation(activation)
        self.se_up = nn.Linear(self.se_width, width)
        self.proj: nn.Module = nn.Linear(in_width, width) if in_width != width else nn.Identity()
        self.act = make_activation(activation)
        self.dropout = Dropout(dropout)

    #: Stacks of 4 blocks or more stall on the blank plateau with their branches open and
    #: leave it with them closed (speechocean762, 755 steps: 83-86% -> 67-68% dev CER);
    #: shallower ones learn with them open (2 blocks 76%, 3 blocks 69%), and closing them
    #: costs up to 7 points (BENCHMARKS.md "Leaving the plateau").
    close_from_layers = 4

    def residual_outputs(self) -> list[nn.Module]:
        # The last sub-block's normalisation: at zero, h is zero (every activation here maps 0
        # to 0) and the block computes act(proj(x)).
        return [self._sub_blocks()[-1].norm.affine]

    def _sub_blocks(self) -> list[_SeparableConv]:
        return cast(list[_SeparableConv], list(self.convs))

    def _excite(self, squeezed: Tensor) -> Tensor:
        """(..., D) channel means -> (..., D) gates in (0, 1)."""
        return torch.sigmoid(self.se_up(self.se_act(self.se_down(squeezed))))

    def _output(self, h: Tensor, gate: Tensor, x: Tensor) -> Tensor:
        return self.dropout(self.act(h * gate + self.proj(x)))  # type: ignore[no-any-return]

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """(B, T, C), (B,) -> (B, T, D); padded output frames are zero."""
        h = x
        for conv in self.convs:
            h = conv(h, x_lens)
        h = zero_padding(h, x_lens)  # (B, T, D), so that sums see valid frames only
        if self.causal:
            frames = torch.arange(1, h.shape[1] + 1, device=h.device, dtype=h.dtype)
            squeezed = h.cumsum(dim=1) / frames[:, None]  # (B, T, D) running means
            gate = self._excite(squeezed)  # (B, T, D)
        else:
            count = x_lens.clamp(min=1).to(h.dtype)[:, None]  # (B, 1)
            squeezed = h.sum(dim=1) / count  # (B, D)
            gate = self._excite(squeezed)[:, None, :]  # (B, D) -> (B, 1, D)
        return zero_padding(self._output(h, gate, x), x_lens)

    def initial_state(self, batch_size: int) -> CNNBlockState:
        """Causal blocks only: zero convolution histories, an empty running sum."""
        if not self.causal:
            return super().initial_state(batch_size)  # type: ignore[no-any-return]
        w = self.se_down.weight
        running = torch.zeros(batch_size, self.width, device=w.device, dtype=w.dtype)
        convs = [conv.depthwise.initial_state(batch_size) for conv in self._sub_blocks()]
        return convs, running, 0

    def step(
        self, x: Tensor, state: CNNBlockState, valid: int | Tensor | None = None
    ) -> tuple[Tensor, CNNBlockState]:
        """(B, T_chunk, C) and state -> (B, T_chunk, D) and the new state.

        Causal throughout, so padding after the ``valid`` frames cannot reach them.
        """
        if not self.causal:
            return super().step(x, state)
        conv_states, running, seen = state
        h = x
        new_states = []
        for conv, conv_state in zip(self._sub_blocks(), conv_states, strict=True):
            h, conv_state = conv.step(h, conv_state)
            new_states.append(conv_state)
        sums = running[:, None, :] + h.cumsum(dim=1)  # (B, T_chunk, D)
        # (T_chunk,) frames seen so far at each step frame; ``seen`` may be a tensor
        frames = torch.arange(1, h.shape[1] + 1, device=h.device, dtype=h.dtype) + seen
        gate = self._excite(sums / frames[:, None])
        return self._output(h, gate, x), (new_states, sums[:, -1], seen + h.shape[1])

    def macs(self, num_frames: int) -> int:
        t, c, d, k = num_frames, self.in_width, self.width, self.kernel
        total = 0
        for i in range(len(self.convs)):
            channels = c if i == 0 else d
            total += t * channels * k  # depthwise: one input channel per output channel
            total += t * channels * d  # pointwise
        squeezed_rows = t if self.causal else 1  # a gate per frame, or one per utterance
        total += squeezed_rows * 2 * d * self.se_width
        if c != d:
            total += t * c * d  # residual projection
        return total

    def activation_elements(self, num_frames: int) -> int:
        # x (T * C) stays alive to the end for the residual. On top of it, the busiest
        # moments are:
        # * inside a depthwise TimeConv with ``ch`` channels: the sub-block's input (when it is
        #   not x), the zeroed copy or time-padded copy ((T + kernel - 1) * ch), the raw
        #   output and the zeroed output; then the pointwise output (T * D) grows next to it.
        # * the end: h (T * D), the running sums and means (2 * T * D, causal only), the gate
        #   (T * D, or D for a full-context block), h * gate, proj(x) and their sum (3 * T * D).
        t, c, d = num_frames, self.in_width, self.width
        peak = 0
        for i in range(len(self.convs)):
            ch = c if i == 0 else d
            held = 0 if i == 0 else t * ch
            conv = held + (t + self.kernel - 1) * ch + 2 * t * ch
            pointwise = held + t * ch + t * d
            peak = max(peak, conv, pointwise)
        gate = t * d if self.causal else d
        end = t * d + (2 * t * d if self.causal else 0) + gate + 3 * t * d
        return t * c + max(peak, end)
