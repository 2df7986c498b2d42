"""``Encoder``: stem, optional look-ahead, positions, layers and the mid-encoder reduction.

Legend: B batch, T frames, F features, D width.

``forward(feats, feat_lens) -> (enc, enc_lens)`` on whole utterances. A streaming encoder
(built with causal layers) also runs chunk by chunk with :meth:`Encoder.stream`, which gives
the same output as ``forward`` (within float tolerance): that is the test of streamability.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from speechnas.models._blocks import Dropout, sinusoids
from speechnas.models._layer import EncoderLayer
from speechnas.models._masks import zero_padding
from speechnas.models.subsampling import (
    Conv1dSubsampling,
    Conv2dSubsampling,
    Lookahead,
    PairReduction,
)

__all__ = ["Encoder", "EncoderStream"]


class Encoder(nn.Module):
    """Features to encoder frames.

    Args:
        stem: the convolutional subsampling (its output width is the first layer's input).
        layers: the kept layers, first to last.
        reduction: a stride-2 :class:`PairReduction` placed before ``layers[reduction_at]``,
            or ``None``.
        reduction_at: index of the layer the reduction precedes (ignored without one).
        lookahead: a :class:`Lookahead` after the stem, or ``None``.
        positions: add absolute sinusoidal positions after the stem.
        dropout: dropout after the stem.
        chunk: encoder-output frames per streaming chunk (``None``: not streamable).
    """

    def __init__(
        self,
        *,
        stem: Conv2dSubsampling | Conv1dSubsampling,
        layers: list[EncoderLayer],
        reduction: PairReduction | None = None,
        reduction_at: int = 0,
        lookahead: Lookahead | None = None,
        positions: bool = False,
        dropout: float = 0.0,
        chunk: int | None = None,
    ) -> None:
        super().__init__()
        if reduction is not None and not 0 < reduction_at < len(layers):
            raise ValueError(f"reduction_at={reduction_at!r} needs layers on both sides")
        self.stem = stem
        self.lookahead = lookahead
        self.layers = nn.ModuleList(layers)
        self._kept: list[EncoderLayer] = layers  # the same modules, typed
        self.reduction = reduction
        self.reduction_at = reduction_at if reduction is not None else -1
        self.positions = positions
        self.dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(layers[-1].width)
        self.chunk = chunk
        self.stem_width = layers[0].in_width
        self.width = layers[-1].width

    @property
    def kept_layers(self) -> list[EncoderLayer]:
        """The layers, first to last (typed; the same modules as ``layers``)."""
        return self._kept

    def post_stem(self, x: Tensor, offset: int | Tensor) -> Tensor:
        """Positions (from frame ``offset``, an int or a 0-dim tensor) and dropout after the
        stem."""
        if self.positions:
            pos = torch.arange(x.shape[1], device=x.device) + offset
            x = x + sinusoids(pos, x.shape[2])[None]
        return self.dropout(x)  # type: ignore[no-any-return]

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, F), (B,) -> (B, T', D), (B,); frames past the lengths are zero."""
        h, lens = self.stem(x, x_lens)  # a module call: latency tables time it as a part
        return self._after_stem(h, lens)

    def from_convolved(self, h: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`forward` from the stem's convolutions on (``stem.convolve``), which
        encoders with the same stem convolutions share whatever their widths and layers."""
        return self._after_stem(self.stem.project(h), lens)

    def forward_tapped(
        self, x: Tensor, x_lens: Tensor, tap: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """:meth:`forward`, also returning the output of the first ``tap`` layers.

        The tapped frames go through the encoder's final LayerNorm, as the last layer's do,
        so one output projection reads both (intermediate CTC, Lee and Watanabe, 2021).

        Returns:
            ``(enc, enc_lens, mid, mid_lens)``: the output ``(B, T', D)`` and the output of
            layer ``tap - 1`` ``(B, T'', D_tap)``, each with its valid lengths.

        Raises:
            ValueError: ``tap`` not in ``1 .. len(layers) - 1``.
        """
        if not 0 < tap < len(self._kept):
            raise ValueError(
                f"tap={tap!r} is invalid; expected 1 .. {len(self._kept) - 1} "
                f"(a layer before the last of {len(self._kept)})"
            )
        h, lens = self.stem(x, x_lens)
        taps: list[tuple[Tensor, Tensor]] = []
        enc, enc_lens = self._after_stem(h, lens, tap, taps)
        return enc, enc_lens, taps[0][0], taps[0][1]

    def _after_stem(
        self,
        h: Tensor,
        lens: Tensor,
        tap: int | None = None,
        taps: list[tuple[Tensor, Tensor]] | None = None,
    ) -> tuple[Tensor, Tensor]:
        if self.lookahead is not None:
            h = self.lookahead(h, lens)
        h = zero_padding(self.post_stem(h, 0), lens)
        for i, layer in enumerate(self._kept):
            if i == self.reduction_at:
                assert self.reduction is not None
                h, lens = self.reduction(h, lens)
            if i == tap and taps is not None:
                taps.append((zero_padding(self.norm(h), lens), lens))
            h = layer(h, lens)
        return zero_padding(self.norm(h), lens), lens

    # --- streaming -----------------------------------------------------------------------

    @property
    def input_chunk(self) -> int:
        """Feature frames per streaming chunk."""
        if self.chunk is None:
            raise RuntimeError("this encoder is not streamable (built without causal layers)")
        return self.chunk * math.prod(self.stem.strides) * (2 if self.reduction else 1)

    @torch.no_grad()
    def stream(self, feats: Tensor, chunk_frames: int | None = None) -> Tensor:
        """Encode ``(B, T, F)`` features fed ``chunk_frames`` feature frames at a time.

        Every item must have the full length ``T``. The stem and the layers keep their state
        between chunks; attention layers always receive whole chunks of their configured size
        (frames are buffered until one is complete). ``chunk_frames`` defaults to
        :attr:`input_chunk` and must be a multiple of the stem's total stride.
        """
        feed = chunk_frames or self.input_chunk
        stride = math.prod(self.stem.strides)
        if feed % stride:
            raise ValueError(
                f"chunk_frames={feed!r} must be a multiple of the stem stride {stride}"
            )
        runner = EncoderStream(self)
        outs = [runner.push(feats[:, s : s + feed]) for s in range(0, feats.shape[1], feed)]
        outs.append(runner.finish())
        return torch.cat([o for o in outs if o.numel()], dim=1)

    # --- cost ----------------------------------------------------------------------------

    def frames_after_stem(self, num_frames: int) -> int:
        t = num_frames
        for s in self.stem.strides:
            t = (t - 1) // s + 1
        return t

    def macs(self, num_frames: int) -> int:
        """Multiply-accumulates for one utterance of ``num_frames`` feature frames."""
        t = self.frames_after_stem(num_frames)
        total = self.stem.macs(num_frames)
        if self.lookahead is not None:
            total += self.lookahead.macs(t)
        for i, layer in enumerate(self._kept):
            if i == self.reduction_at:
                assert self.reduction is not None
                total += self.reduction.macs(t)
                t = (t + 1) // 2
            total += layer.macs(t)
        return total

    def activation_elements(self, num_frames: int) -> int:
        """Peak live activation elements of one utterance's forward (inference)."""
        t = self.frames_after_stem(num_frames)
        peak = self.stem.activation_elements(num_frames)
        for i, layer in enumerate(self._kept):
            if i == self.reduction_at:
                t = (t + 1) // 2
            peak = max(peak, layer.activation_elements(t))
        return peak

    def output_frames(self, num_frames: int) -> int:
        t = self.frames_after_stem(num_frames)
        return (t + 1) // 2 if self.reduction is not None else t


class EncoderStream:
    """The state of one chunk-by-chunk pass through a streaming :class:`Encoder`.

    ``push(feats (B, T_chunk, F)) -> (B, T_out, D)`` returns the encoder frames that became
    complete (possibly none: shape ``(0, 0, 0)``); ``finish()`` flushes what is left. The
    profiler times ``push`` per chunk; :meth:`Encoder.stream` runs a whole utterance.
    """

    def __init__(self, encoder: Encoder) -> None:
        if encoder.chunk is None:
            raise RuntimeError("this encoder is not streamable (built without causal layers)")
        self.enc = encoder
        self.stem_state = encoder.stem.initial_state(0)
        self.pending: Tensor | None = None  # look-ahead frames awaiting their future
        self.buffer: Tensor | None = None  # stem frames awaiting a whole chunk
        self.offset = 0  # absolute position of the next stem frame
        self.states: list[Any] | None = None
        # Frames per chunk at the first layer's rate (twice the output chunk before a reduction).
        self.first_chunk = encoder.chunk * (2 if encoder.reduction is not None else 1)

    def push(self, feats: Tensor) -> Tensor:
        h, self.stem_state = self.enc.stem.step(feats, self.stem_state)
        if self.enc.lookahead is not None:
            h, self.pending = self.enc.lookahead.step(h, self.pending)
        return self._layers(h, final=False)

    def finish(self) -> Tensor:
        h = None
        if self.enc.lookahead is not None and self.pending is not None and self.pending.shape[1]:
            h = self.enc.lookahead.flush(self.pending)
        return self._layers(h, final=True)

    def _layers(self, h: Tensor | None, final: bool) -> Tensor:
        if h is not None and h.shape[1]:
            h = self.enc.post_stem(h, self.offset)
            self.offset += h.shape[1]
            self.buffer = h if self.buffer is None else torch.cat([self.buffer, h], dim=1)
        outs = []
        while self.buffer is not None and (
            self.buffer.shape[1] >= self.first_chunk or (final and self.buffer.shape[1])
        ):
            chunk = self.buffer[:, : self.first_chunk]
            self.buffer = self.buffer[:, self.first_chunk :]
            outs.append(self._run_chunk(chunk))
        if not outs:
            return torch.zeros(0, 0, 0)
        return torch.cat(outs, dim=1)

    def _run_chunk(self, h: Tensor) -> Tensor:
        layers = self.enc.kept_layers
        if self.states is None:
            self.states = [layer.initial_state(h.shape[0]) for layer in layers]
        for i, layer in enumerate(layers):
            if i == self.enc.reduction_at:
                assert self.enc.reduction is not None
                h = self.enc.reduction.step(h)
            h, self.states[i] = layer.step(h, self.states[i])
        return self.enc.norm(h)  # type: ignore[no-any-return]
