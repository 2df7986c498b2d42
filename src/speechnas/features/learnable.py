"""A trainable filterbank front-end initialised from the mel filterbank.

The raw weight ``W`` (``nn.Parameter`` of shape ``(n_fft // 2 + 1, n_mels)``) starts as the
mel filterbank and the filters applied are ``W.clamp(min=0)``. This keeps the energies
non-negative (so the log is defined) and makes the initial front-end exactly the log-mel one.
Clamping is chosen over ``abs`` or a squared parametrisation because their gradient at zero is
zero, which would freeze the many zero weights of the initial triangles and stop a filter from
widening; ``clamp``'s gradient passes at exactly zero (PyTorch's convention), so a zero weight
can grow. A weight pushed below zero stops receiving gradient, i.e. the band is pruned from that
filter. A softplus was not used because it cannot start exactly at the mel filterbank.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from speechnas.features.mel import LogMel

__all__ = ["LearnableFilterbank"]


class LearnableFilterbank(LogMel):
    """Log energies of a learnable non-negative filterbank applied to the power spectrum.

    Args:
        n_mels: Number of filters (``num_features``). Default 80.
        **kwargs: Framing, mel initialisation and normalisation, as for
            :class:`~speechnas.features.LogMel` (keyword-only there too).

    Example:
        >>> import torch
        >>> fe = LearnableFilterbank(n_mels=40)
        >>> feats, lens = fe(torch.randn(2, 8_000), torch.tensor([8_000, 4_000]))
        >>> feats.sum().backward()
        >>> fe.weight.grad.shape
        torch.Size([257, 40])
    """

    def __init__(self, n_mels: int = 80, **kwargs: Any) -> None:
        super().__init__(n_mels, **kwargs)
        # The mel filterbank becomes the starting point of a trainable weight.
        self.weight = nn.Parameter(self.fbank.clone())  # (K, n_mels), raw; see filters()

    def filters(self) -> Tensor:
        """The non-negative filters actually applied, ``(n_fft // 2 + 1, n_mels)``."""
        return self.weight.clamp(min=0.0)
