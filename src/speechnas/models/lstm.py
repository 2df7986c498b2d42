"""LSTM encoder layers: (B)LSTM and a convolution-fronted LSTM.

Legend: B batch, T frames, C ``in_width``, D ``width``, H hidden size per direction.

Both layers run their LSTM over packed sequences, so every utterance is processed over its own
frames only: the backward direction of a BLSTM starts at the utterance's own last frame, and
the output does not depend on the other items of the batch (padding invariance).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechnas.models._blocks import Dropout, Norm, TimeConv, make_activation
from speechnas.models._layer import EncoderLayer
from speechnas.models._masks import zero_padding

__all__ = ["CNNLSTMLayer", "LSTMLayer"]

LSTMState = tuple[Tensor, Tensor]


def _check_width(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is invalid; expected an integer >= 1")


def _check_dropout(value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"dropout={value!r} is invalid; expected a number in [0, 1)")


def _run_packed(lstm: nn.LSTM, x: Tensor, x_lens: Tensor) -> Tensor:
    """(B, T, C) -> (B, T, directions * H) over each item's valid frames only.

    Frames past ``x_lens`` come out as zero. An empty item is run over one (zero) frame,
    since packing needs a positive length; its output is zeroed by the caller.
    """
    if torch.compiler.is_exporting():
        # An exported graph sees whole utterances (every item as long as the batch): packing,
        # a data-dependent operation, changes nothing there.
        return lstm(x)[0]  # type: ignore[no-any-return]
    lengths = x_lens.clamp(min=1).cpu()  # pack_padded_sequence wants lengths on the CPU
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return h


def _lstm_macs(in_width: int, hidden: int, num_frames: int, directions: int = 1) -> int:
    # Per direction and frame: four gates, each a product with [input; hidden].
    return directions * num_frames * 4 * hidden * (in_width + hidden)


def _lstm_state(lstm: nn.LSTM, batch_size: int) -> LSTMState:
    w = next(lstm.parameters())  # for device and dtype
    zeros = torch.zeros(1, batch_size, lstm.hidden_size, device=w.device, dtype=w.dtype)
    return zeros, zeros.clone()


class LSTMLayer(EncoderLayer):
    """One LSTM or BLSTM layer with an optional residual connection.

    ``y = dropout(lstm(x)) + x`` when ``in_width == width``, ``y = dropout(lstm(x))`` otherwise.
    A unidirectional layer (hidden size ``width``) is causal and streams: its state is the
    LSTM's ``(h, c)``, each ``(1, B, width)``. A bidirectional layer has ``width // 2`` hidden
    units per direction, reads the whole utterance and does not stream.

    Args:
        in_width: Input channels ``C``.
        width: Output channels ``D`` (both directions together for a BLSTM).
        bidirectional: Run a BLSTM; ``width`` must then be even.
        dropout: Dropout probability on the LSTM output, in training.

    Raises:
        ValueError: If a width is not a positive integer, ``width`` is odd for a BLSTM, or
            ``dropout`` is outside [0, 1).

    Example:
        >>> layer = LSTMLayer(in_width=16, width=16, bidirectional=True).eval()
        >>> layer(torch.randn(2, 7, 16), torch.tensor([7, 4])).shape
        torch.Size([2, 7, 16])
    """

    def __init__(
        self, *, in_width: int, width: int, bidirectional: bool, dropout: float = 0.0
    ) -> None:
        super().__init__()
        _check_width("in_width", in_width)
        _check_width("width", width)
        if bidirectional and width % 2:
            raise ValueError(f"width={width!r} is invalid; a bidirectional layer needs it even")
        _check_dropout(dropout)
        self.in_width = in_width
        self.width = width
        self.bidirectional = bidirectional
        self.hidden = width // 2 if bidirectional else width
        self.residual = in_width == width
        self.lstm = nn.LSTM(in_width, self.hidden, batch_first=True, bidirectional=bidirectional)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """(B, T, C), (B,) -> (B, T, D); padded output frames are zero."""
        h = self.dropout(_run_packed(self.lstm, x, x_lens))  # (B, T, D)
        if self.residual:
            h = h + x
        return zero_padding(h, x_lens)

    def initial_state(self, batch_size: int) -> LSTMState:
        """Zero ``(h, c)``, each ``(1, B, D)``; unidirectional layers only."""
        if self.bidirectional:
            return super().initial_state(batch_size)  # type: ignore[no-any-return]
        return _lstm_state(self.lstm, batch_size)

    def step(
        self, x: Tensor, state: LSTMState, valid: int | Tensor | None = None
    ) -> tuple[Tensor, LSTMState]:
        """(B, T_chunk, C) and ``(h, c)`` -> (B, T_chunk, D) and the new ``(h, c)``.

        Unidirectional, so padding after the ``valid`` frames cannot reach them.
        """
        if self.bidirectional:
            return super().step(x, state)
        h, new_state = self.lstm(x, state)
        h = self.dropout(h)
        if self.residual:
            h = h + x
        return h, new_state

    def macs(self, num_frames: int) -> int:
        directions = 2 if self.bidirectional else 1
        return _lstm_macs(self.in_width, self.hidden, num_frames, directions)

    def activation_elements(self, num_frames: int) -> int:
        # Alive at the busiest moment, right after the padded output is made: the input x
        # (kept for the residual), its packed copy, the packed LSTM output and the padded
        # output (T * C + T * C + T * D + T * D); inside the LSTM call the gate
        # pre-activations of every frame, 4 * H per direction, are computed for the whole
        # input at once (and kept for backward in training), on top of the first three.
        # The residual sum and the zeroed output replace tensors freed as they are made.
        t, c, d = num_frames, self.in_width, self.width
        gates = 4 * d * t  # 4 * H * directions = 4 * D
        return max(2 * t * c + t * d + gates, 2 * t * c + 2 * t * d)


class CNNLSTMLayer(EncoderLayer):
    """A depthwise convolution in front of a unidirectional LSTM.

    ``h = act(norm(depthwise_conv(x)))``, ``y = dropout(lstm(h))``, plus ``x`` when
    ``in_width == width``. The convolution is centred, or causal with ``causal=True``; a causal
    layer streams, with state ``(conv_state (B, kernel - 1, C), (h, c) each (1, B, D))``.

    Args:
        in_width: Input channels ``C`` (also the convolution's channels).
        width: Output channels ``D``, the LSTM's hidden size.
        kernel: Convolution kernel in frames (odd unless causal).
        activation: ``swish``, ``gelu`` or ``relu``.
        norm: ``layernorm`` or ``batchnorm`` (length-masked) after the convolution.
        causal: Causal (left-padded) convolution; the layer then streams.
        dropout: Dropout probability on the LSTM output, in training.

    Raises:
        ValueError: For a non-positive width, a bad kernel, activation or norm, or
            ``dropout`` outside [0, 1).

    Example:
        >>> layer = CNNLSTMLayer(
        ...     in_width=16, width=24, kernel=3, activation="swish", norm="layernorm",
        ...     causal=True,
        ... ).eval()
        >>> layer(torch.randn(2, 7, 16), torch.tensor([7, 4])).shape
        torch.Size([2, 7, 24])
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
    ) -> None:
        super().__init__()
        _check_width("in_width", in_width)
        _check_width("width", width)
        _check_dropout(dropout)
        self.in_width = in_width
        self.width = width
        self.kernel = kernel
        self.causal = causal
        self.residual = in_width == width
        self.conv = TimeConv(in_width, in_width, kernel, groups=in_width, causal=causal)
        self.norm = Norm(norm, in_width)
        self.act = make_activation(activation)
        self.lstm = nn.LSTM(in_width, width, batch_first=True)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """(B, T, C), (B,) -> (B, T, D); padded output frames are zero."""
        h = self.act(self.norm(self.conv(x, x_lens), x_lens))  # (B, T, C)
        # Packing drops the padded frames, where the norm's bias made h non-zero.
        h = self.dropout(_run_packed(self.lstm, h, x_lens))  # (B, T, D)
        if self.residual:
            h = h + x
        return zero_padding(h, x_lens)

    def initial_state(self, batch_size: int) -> tuple[Tensor, LSTMState]:
        """Causal layers only: zero convolution history and zero ``(h, c)``."""
        if not self.causal:
            return super().initial_state(batch_size)  # type: ignore[no-any-return]
        return self.conv.initial_state(batch_size), _lstm_state(self.lstm, batch_size)

    def step(
        self, x: Tensor, state: tuple[Tensor, LSTMState], valid: int | Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, LSTMState]]:
        """(B, T_chunk, C) and state -> (B, T_chunk, D) and the new state.

        Causal, so padding after the ``valid`` frames cannot reach them.
        """
        if not self.causal:
            return super().step(x, state)
        conv_state, lstm_state = state
        h, conv_state = self.conv.step(x, conv_state)
        h, lstm_state = self.lstm(self.act(self.norm(h)), lstm_state)
        h = self.dropout(h)
        if self.residual:
            h = h + x
        return h, (conv_state, lstm_state)

    def macs(self, num_frames: int) -> int:
        conv = num_frames * self.in_width * self.kernel  # depthwise: one input channel each
        return conv + _lstm_macs(self.in_width, self.width, num_frames)

    def activation_elements(self, num_frames: int) -> int:
        # Two busy moments, x (T * C, kept for the residual) alive in both:
        # * inside the convolution: its zeroed input, the time-padded copy
        #   ((T + kernel - 1) * C), the raw output and the zeroed output;
        # * around the LSTM: h (T * C), its packed copy, the gate pre-activations of every
        #   frame (4 * D * T) and the packed output, then the packed and padded outputs.
        t, c, d = num_frames, self.in_width, self.width
        conv = t * c + (t + self.kernel - 1) * c + 2 * t * c
        lstm = 2 * t * c + max(4 * t * d + t * d, 2 * t * d)
        return t * c + max(conv, lstm)
