"""Building blocks shared by several encoder families.

Legend: B batch, T frames, C or D channels.

Every block takes ``(x, x_lens)`` so that padded frames never leak into valid ones, and the
blocks that look along time (:class:`TimeConv`) can also run chunk by chunk through
``initial_state`` / ``step`` when they are causal.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from speechnas.models._masks import lengths_to_mask, zero_padding

__all__ = ["Dropout", "MatMul", "Norm", "TimeConv", "make_activation", "sinusoids"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"swish": nn.SiLU, "gelu": nn.GELU, "relu": nn.ReLU}


def make_activation(name: str) -> nn.Module:
    """``swish``, ``gelu`` or ``relu``."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation={name!r} is invalid; expected one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


class Dropout(nn.Dropout):
    """Dropout whose CPU masks cost one random draw per 8 entries instead of one per entry.

    Torch's CPU generator draws one number at a time, which made dropout a quarter to a third
    of a Conformer's training step. Here each entry gets one random byte (a 64-bit draw is cut
    into 8), and is dropped when the byte is below ``round(256 p)``: the rate actually used is
    :attr:`rate`, ``p`` rounded to a multiple of 1/256 (0.1 becomes 0.1016). Kept entries are
    scaled by ``1 / (1 - rate)``. Draws come from torch's global generator, so a seed fixes the
    masks. On a GPU, and in eval mode, it is ``nn.Dropout``.
    """

    @property
    def rate(self) -> float:
        return round(self.p * 256) / 256

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or x.device.type != "cpu" or self.p == 0.0:
            return super().forward(x)
        n = x.numel()
        bits = torch.empty((n + 7) // 8, dtype=torch.int64).random_(-(2**63), None)
        drop = round(self.p * 256)
        if drop >= 256:
            return x * 0.0
        keep = bits.view(torch.uint8)[:n].view(x.shape) >= drop
        # One float mask, scaled in place: a single product forward and backward.
        return x * keep.to(x.dtype).mul_(256 / (256 - drop))


class MatMul(nn.Module):
    """``a @ b`` as a module, so that MAC-counting hooks see attention products."""

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b


class Norm(nn.Module):
    """Normalisation over channels of ``(B, T, C)``: ``layernorm`` or ``batchnorm``.

    The batch norm computes its training statistics over valid frames only, so padding does
    not shift them; in eval mode it uses running statistics and is frame-local (streamable).
    """

    running_mean: Tensor
    running_var: Tensor

    def __init__(self, kind: str, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if kind not in ("layernorm", "batchnorm"):
            raise ValueError(f"norm={kind!r} is invalid; expected 'layernorm' or 'batchnorm'")
        self.kind = kind
        self.eps = eps
        self.momentum = momentum
        if kind == "layernorm":
            self.ln = nn.LayerNorm(channels, eps=eps)
        else:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))

    @property
    def affine(self) -> nn.Module:
        """The module holding the scale (``weight``) and shift (``bias``)."""
        return self.ln if self.kind == "layernorm" else self

    def forward(self, x: Tensor, x_lens: Tensor | None = None) -> Tensor:
        if self.kind == "layernorm":
            return self.ln(x)  # type: ignore[no-any-return]
        # Statistics in float32 whatever the input (bf16 under autocast), as torch's own
        # batch norm keeps them: the running buffers stay float32.
        x = x.float()
        if self.training:
            if x_lens is None:
                x_lens = torch.full((x.shape[0],), x.shape[1], device=x.device)
            mask = lengths_to_mask(x_lens, x.shape[1]).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
            count = mask.sum().clamp(min=1.0)
            mean = (x * mask).sum(dim=(0, 1)) / count  # (C,)
            var = ((x - mean).square() * mask).sum(dim=(0, 1)) / count
            with torch.no_grad():
                unbiased = var * count / (count - 1).clamp(min=1.0)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class TimeConv(nn.Module):
    """A 1-D convolution along time on ``(B, T, C)`` that keeps the length.

    Centred (``kernel // 2`` frames of context each side) or causal (``kernel - 1`` past
    frames, none future). Padded input frames are zeroed first, so an utterance's output does
    not depend on its neighbours in the batch. Causal convolutions also run chunk by chunk:
    ``step`` keeps the last ``kernel - 1`` input frames as state, which reproduces the
    zero left-padding of :meth:`forward` exactly.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        *,
        groups: int = 1,
        causal: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if kernel < 1 or (not causal and kernel % 2 == 0):
            raise ValueError(f"kernel={kernel!r} is invalid; expected an odd positive size")
        self.kernel = kernel
        self.causal = causal
        self.in_channels = in_channels
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, groups=groups, bias=bias)

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """(B, T, C_in) -> (B, T, C_out); padded output frames are zero."""
        h = zero_padding(x, x_lens).transpose(1, 2)  # (B, T, C) -> (B, C, T)
        left = self.kernel - 1 if self.causal else self.kernel // 2
        right = 0 if self.causal else self.kernel // 2
        h = nn.functional.pad(h, (left, right))
        return zero_padding(self.conv(h).transpose(1, 2), x_lens)  # back to (B, T, C_out)

    def initial_state(self, batch_size: int) -> Tensor:
        w = self.conv.weight
        return torch.zeros(
            batch_size, self.kernel - 1, self.in_channels, device=w.device, dtype=w.dtype
        )

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Causal only: (B, T_chunk, C) input frames and state -> output frames, new state."""
        if not self.causal:
            raise RuntimeError("step() needs a causal TimeConv")
        h = torch.cat([state, x], dim=1)  # (B, K - 1 + T_chunk, C)
        y = self.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, T_chunk, C_out)
        return y, h[:, h.shape[1] - (self.kernel - 1) :]


def sinusoids(positions: Tensor, dim: int) -> Tensor:
    """(R,) positions -> (R, dim) interleaved sin/cos embeddings (Vaswani et al., 2017)."""
    half = (dim + 1) // 2
    freq = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32)
        * (-2.0 * math.log(10000.0) / dim)
    )
    angles = positions.to(torch.float32)[:, None] * freq[None, :]  # (R, half)
    table = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (R, half, 2)
    return table.reshape(positions.shape[0], 2 * half)[:, :dim]  # (R, half, 2) -> (R, dim)
