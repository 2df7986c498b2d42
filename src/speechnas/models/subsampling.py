"""Time reduction: the convolutional stem, the mid-encoder reduction and the look-ahead.

Legend: B batch, T frames, F features, C channels, D width.

Every module here maps ``(x, x_lens)`` to ``(y, y_lens)``, zeroes padded frames, and, when
causal, runs chunk by chunk through ``initial_state`` / ``step`` with the same result as the
whole-sequence ``forward``. A stride-``s`` convolution of kernel 3 turns ``L`` frames into
``(L - 1) // s + 1``; causal ones read frames ``s t - 2 .. s t`` for output ``t`` (two past
frames, none future), centred ones ``s t - 1 .. s t + 1``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechnas.models._masks import zero_padding

__all__ = [
    "Conv1dSubsampling",
    "Conv2dSubsampling",
    "Lookahead",
    "PairReduction",
    "subsampling_strides",
]

_STRIDES = {1: (1,), 2: (2,), 3: (3,), 4: (2, 2), 6: (2, 3), 8: (2, 2, 2)}
_KERNEL = 3


def subsampling_strides(factor: int) -> tuple[int, ...]:
    """Time strides of the stem's convolutions; their product is ``factor``."""
    if factor not in _STRIDES:
        raise ValueError(f"subsampling factor={factor!r} is invalid; expected {sorted(_STRIDES)}")
    return _STRIDES[factor]


def _reduce_lens(lens: Tensor, stride: int) -> Tensor:
    return torch.div(lens - 1, stride, rounding_mode="floor") + 1


class _Stem(nn.Module):
    """Shared chunk-by-chunk logic: each convolution keeps its last two input frames.

    Chunks must hold a multiple of the total stride (the last chunk of a stream may not).
    """

    strides: tuple[int, ...]
    causal: bool

    def _conv(self, i: int, h: Tensor) -> Tensor:
        raise NotImplementedError

    def _time_pad(self) -> tuple[int, int]:
        return (_KERNEL - 1, 0) if self.causal else (1, 1)

    def initial_state(self, batch_size: int) -> list[Tensor | None]:
        return [None] * len(self.strides)

    def convolve(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """The convolutions, before the projection to the width: ``(B, T, F), (B,)`` ->
        the stem's inner activations and ``(B,)`` reduced lengths. Stems of one
        ``channels`` count agree here whatever their output width."""
        raise NotImplementedError

    def project(self, h: Tensor) -> Tensor:
        """:meth:`convolve`'s activations -> ``(B, T', D)``."""
        raise NotImplementedError

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, F), (B,) -> (B, T', D), (B,)."""
        h, lens = self.convolve(x, x_lens)
        return self.project(h), lens


class Conv2dSubsampling(_Stem):
    """3x3 Conv2d + ReLU layers over (time, frequency), then a projection to ``width``.

    Each layer strides time by its factor and frequency by 2.

    Args:
        in_features: F, features per input frame.
        width: D, output width.
        factor: time reduction, one of 1, 2, 3, 4, 6, 8.
        channels: convolution channels.
        causal: read no future frame (streaming).
    """

    def __init__(
        self, *, in_features: int, width: int, factor: int, channels: int, causal: bool = False
    ) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"in_features={in_features!r} must be >= 1")
        self.strides = subsampling_strides(factor)
        self.causal = causal
        self.channels = channels
        convs = []
        in_ch, freq = 1, in_features
        self.freqs = [freq]
        for s in self.strides:
            convs.append(nn.Conv2d(in_ch, channels, _KERNEL, stride=(s, 2), padding=(0, 1)))
            in_ch, freq = channels, (freq - 1) // 2 + 1
            self.freqs.append(freq)
        self.convs = nn.ModuleList(convs)
        self.proj = nn.Linear(channels * freq, width)

    def _conv(self, i: int, h: Tensor) -> Tensor:
        return torch.relu(self.convs[i](h))

    def convolve(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, F), (B,) -> (B, C, T', F'), (B,)."""
        h = zero_padding(x, x_lens).unsqueeze(1)  # (B, T, F) -> (B, 1, T, F)
        lens = x_lens
        for i, s in enumerate(self.strides):
            h = self._conv(i, nn.functional.pad(h, (0, 0, *self._time_pad())))
            lens = _reduce_lens(lens, s)
            if not torch.compiler.is_exporting():
                # Drop frames past the longest item (an exported graph sees whole utterances,
                # where this keeps everything: the convolution already gives the reduced length).
                h = h[:, :, : int(lens.max()) if lens.numel() else 0]
            # (B, C, T', F') -> zero frames past each length, along T'
            h = zero_padding(h.transpose(1, 2), lens).transpose(1, 2)
        return h, lens

    def project(self, h: Tensor) -> Tensor:
        b, c, t, f = h.shape
        y: Tensor = self.proj(
            h.permute(0, 2, 1, 3).reshape(b, t, c * f)
        )  # (B, C, T, F) -> (B, T, D)
        return y

    def step(self, x: Tensor, state: list[Tensor | None]) -> tuple[Tensor, list[Tensor | None]]:
        """Causal only: the next ``(B, T_chunk, F)`` feature frames -> ``(B, T_chunk', D)``."""
        if not self.causal:
            raise RuntimeError("step() needs a causal stem")
        h = x.unsqueeze(1)  # (B, T, F) -> (B, 1, T, F)
        new_state: list[Tensor | None] = []
        for i, prev in enumerate(state):
            if prev is None:
                prev = h.new_zeros(h.shape[0], h.shape[1], _KERNEL - 1, h.shape[3])
            h_in = torch.cat([prev, h], dim=2)  # two past frames, then the chunk
            new_state.append(h_in[:, :, -(_KERNEL - 1) :])
            h = self._conv(i, h_in)
        return self.project(h), new_state

    def macs(self, num_frames: int) -> int:
        total, t, in_ch = 0, num_frames, 1
        for i, s in enumerate(self.strides):
            t = (t - 1) // s + 1
            total += t * self.freqs[i + 1] * self.channels * in_ch * _KERNEL * _KERNEL
            in_ch = self.channels
        return total + t * self.proj.in_features * self.proj.out_features

    def activation_elements(self, num_frames: int) -> int:
        # The widest moment is the first convolution: its input and its output both alive.
        t1 = (num_frames - 1) // self.strides[0] + 1
        return num_frames * self.freqs[0] + t1 * self.freqs[1] * self.channels


class Conv1dSubsampling(_Stem):
    """Kernel-3 Conv1d + ReLU layers along time (features as channels), then a projection."""

    def __init__(
        self, *, in_features: int, width: int, factor: int, channels: int, causal: bool = False
    ) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"in_features={in_features!r} must be >= 1")
        self.strides = subsampling_strides(factor)
        self.causal = causal
        self.in_features = in_features
        self.channels = channels
        self.convs = nn.ModuleList(
            nn.Conv1d(in_features if i == 0 else channels, channels, _KERNEL, stride=s)
            for i, s in enumerate(self.strides)
        )
        self.proj = nn.Linear(channels, width)

    def _conv(self, i: int, h: Tensor) -> Tensor:
        return torch.relu(self.convs[i](h))

    def convolve(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, F), (B,) -> (B, C, T'), (B,)."""
        h = zero_padding(x, x_lens).transpose(1, 2)  # (B, T, F) -> (B, F, T)
        lens = x_lens
        for i, s in enumerate(self.strides):
            h = self._conv(i, nn.functional.pad(h, self._time_pad()))
            lens = _reduce_lens(lens, s)
            h = zero_padding(h.transpose(1, 2), lens).transpose(1, 2)
        return h, lens

    def project(self, h: Tensor) -> Tensor:
        y: Tensor = self.proj(h.transpose(1, 2))  # (B, C, T') -> (B, T', D)
        return y

    def step(self, x: Tensor, state: list[Tensor | None]) -> tuple[Tensor, list[Tensor | None]]:
        """Causal only: the next ``(B, T_chunk, F)`` feature frames -> ``(B, T_chunk', D)``."""
        if not self.causal:
            raise RuntimeError("step() needs a causal stem")
        h = x.transpose(1, 2)  # (B, T, F) -> (B, F, T)
        new_state: list[Tensor | None] = []
        for i, prev in enumerate(state):
            if prev is None:
                prev = h.new_zeros(h.shape[0], h.shape[1], _KERNEL - 1)
            h_in = torch.cat([prev, h], dim=2)
            new_state.append(h_in[:, :, -(_KERNEL - 1) :])
            h = self._conv(i, h_in)
        return self.project(h), new_state

    def macs(self, num_frames: int) -> int:
        total, t, in_ch = 0, num_frames, self.in_features
        for s in self.strides:
            t = (t - 1) // s + 1
            total += t * self.channels * in_ch * _KERNEL
            in_ch = self.channels
        return total + t * self.channels * self.proj.out_features

    def activation_elements(self, num_frames: int) -> int:
        t1 = (num_frames - 1) // self.strides[0] + 1
        return num_frames * self.in_features + t1 * self.channels


class PairReduction(nn.Module):
    """Halve the frame rate: frames ``2t`` and ``2t + 1`` concatenated, then a projection.

    Reads no frame after ``2t + 1``, so it streams as long as chunks have even lengths (the
    last chunk of a stream may be odd).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.proj = nn.Linear(2 * width, width)

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, D), (B,) -> (B, ceil(T / 2), D), (B,)."""
        x = zero_padding(x, x_lens)
        # Pad an odd length by one frame, without a branch: an exported graph keeps the pad
        # symbolic, where a branch on the traced length would be fixed at trace time.
        x = nn.functional.pad(x, (0, 0, 0, x.shape[1] % 2))
        b, t, d = x.shape
        lens = torch.div(x_lens + 1, 2, rounding_mode="floor")
        y = self.proj(x.reshape(b, t // 2, 2 * d))  # (B, T, D) -> (B, T/2, 2D) -> (B, T/2, D)
        return zero_padding(y, lens), lens

    def step(self, x: Tensor) -> Tensor:
        lens = torch.full((x.shape[0],), x.shape[1], device=x.device)
        return self.forward(x, lens)[0]

    def macs(self, num_frames: int) -> int:
        return ((num_frames + 1) // 2) * 2 * self.width * self.width


class Lookahead(nn.Module):
    """Depthwise convolution over frames ``t .. t + frames`` (DeepSpeech 2's row convolution).

    The one place a streaming encoder reads the future: its ``frames`` frames of look-ahead.
    ``step`` therefore returns fewer frames than it is given until the stream ends, and
    :meth:`flush` emits the rest as if zeros followed, as :meth:`forward` pads.
    """

    def __init__(self, width: int, frames: int) -> None:
        super().__init__()
        if frames < 1:
            raise ValueError(f"lookahead frames={frames!r} must be >= 1")
        self.frames = frames
        self.width = width
        self.conv = nn.Conv1d(width, width, frames + 1, groups=width)

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        h = zero_padding(x, x_lens).transpose(1, 2)  # (B, T, D) -> (B, D, T)
        h = self.conv(nn.functional.pad(h, (0, self.frames)))
        return zero_padding(h.transpose(1, 2), x_lens)

    def step(self, x: Tensor, pending: Tensor | None) -> tuple[Tensor, Tensor]:
        """Append ``x`` to the frames still waiting for their future; emit those now complete."""
        h = x if pending is None else torch.cat([pending, x], dim=1)  # (B, T, D)
        ready = max(0, h.shape[1] - self.frames)
        y = self.conv(h.transpose(1, 2)).transpose(1, 2) if ready else h[:, :0]
        return y, h[:, ready:]

    def flush(self, pending: Tensor) -> Tensor:
        """The waiting frames, as if zeros followed them."""
        h = nn.functional.pad(pending.transpose(1, 2), (0, self.frames))
        return self.conv(h).transpose(1, 2)[:, : pending.shape[1]]  # type: ignore[no-any-return]

    def macs(self, num_frames: int) -> int:
        return num_frames * self.width * (self.frames + 1)
