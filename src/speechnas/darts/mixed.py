"""A mixed encoder layer: the softmax-weighted sum of candidate layers (DARTS).

Legend: B batch, T frames, D width, K candidates.
"""

from __future__ import annotations

from torch import Tensor, nn

from speechnas.models import EncoderLayer
from speechnas.models._masks import zero_padding

__all__ = ["MixedLayer"]


class MixedLayer(EncoderLayer):
    """``forward(x, lens) = sum_k w_k * op_k(x, lens)`` over candidate layers of one width.

    ``None`` among the candidates is the identity (a skipped layer). The weights ``w`` (K,)
    are set before each forward (:attr:`weights`) by the model that owns the architecture
    parameters, so they stay outside this module's parameters.

    Args:
        ops: the candidates, each ``width`` wide in and out, or ``None``.
        width: ``D``.

    Raises:
        ValueError: no candidates, or one of another width.
    """

    def __init__(self, ops: list[EncoderLayer | None], width: int) -> None:
        super().__init__()
        if not ops:
            raise ValueError("a mixed layer needs at least one candidate")
        for k, op in enumerate(ops):
            if op is not None and (op.in_width != width or op.width != width):
                raise ValueError(
                    f"candidate {k} maps {op.in_width} -> {op.width}; expected {width} -> {width}"
                )
        self.ops = nn.ModuleList([nn.Identity() if op is None else op for op in ops])
        self.identity = [op is None for op in ops]
        self.in_width = self.width = width
        self.weights: Tensor | None = None

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        if self.weights is None or self.weights.shape != (len(self.ops),):
            raise RuntimeError("set MixedLayer.weights (one per candidate) before forward")
        out = x.new_zeros(x.shape)
        for k, op in enumerate(self.ops):
            y = x if self.identity[k] else op(x, x_lens)
            out = out + self.weights[k] * y
        return zero_padding(out, x_lens)

    def _candidates(self) -> list[EncoderLayer]:
        return [op for op, ident in zip(self.ops, self.identity, strict=True) if not ident]  # type: ignore[misc]

    def macs(self, num_frames: int) -> int:
        """Every candidate runs."""
        return sum(op.macs(num_frames) for op in self._candidates())

    def activation_elements(self, num_frames: int) -> int:
        ops = self._candidates()
        busiest = max((op.activation_elements(num_frames) for op in ops), default=0)
        return busiest + 2 * num_frames * self.width  # plus the running sum and the input
