"""SpecAugment frequency and time masking (Park et al., 2019), without time warping.

Randomness comes only from an explicit ``torch.Generator`` (passed to ``forward`` or held by the
module); the global RNG is never used. Draws are made on the CPU, so the same seed gives the
same masks on every device.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechnas.features._framing import frame_mask

__all__ = ["SpecAugment"]


def _band_mask(starts: Tensor, widths: Tensor, size: int) -> Tensor:
    """Union of bands ``[start, start + width)``: ``(B, N)`` starts/widths -> ``(B, size)``."""
    pos = torch.arange(size, device=starts.device)[None, None, :]  # (1, 1, size)
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])  # (B, N, size)
    return inside.any(dim=1)


def _draw_bands(
    num: int, max_width: Tensor, extent: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Draw ``num`` bands per row: width ~ U{0..max_width}, start ~ U{0..extent - width}.

    Args:
        num: Bands per row.
        max_width: ``(B,)`` int64 largest width, ``<= extent``.
        extent: ``(B,)`` int64 size of the axis each row may mask.
        generator: CPU generator.

    Returns:
        ``(starts, widths)``, each ``(B, num)`` int64.
    """
    batch = extent.shape[0]
    u_width = torch.rand(batch, num, generator=generator, dtype=torch.float64)
    u_start = torch.rand(batch, num, generator=generator, dtype=torch.float64)
    widths = (u_width * (max_width[:, None] + 1)).floor().to(torch.int64)
    widths = torch.minimum(widths, max_width[:, None])  # guard the u -> 1 edge
    starts = (u_start * (extent[:, None] - widths + 1)).floor().to(torch.int64)
    starts = torch.minimum(starts, extent[:, None] - widths)
    return starts, widths


class SpecAugment(nn.Module):
    """Frequency and time masks on ``(B, T, F)`` features, active only in training mode.

    Each utterance gets ``num_freq_masks`` bands of width ``U{0..freq_mask_width}`` over the
    features and ``num_time_masks`` bands of width ``U{0..floor(time_mask_ratio * len)}`` over
    its own valid frames (adaptive time masks), set to ``mask_value``. Padded frames are never
    touched. In ``eval()`` mode the input is returned unchanged.

    Args:
        num_freq_masks: Frequency masks per utterance. Default 2.
        freq_mask_width: Largest frequency mask (capped at ``F``). Default 27.
        num_time_masks: Time masks per utterance. Default 2.
        time_mask_ratio: Largest time mask as a fraction of the utterance's valid length, in
            ``[0, 1]``. Default 0.05.
        mask_value: Value written into masked cells. Default 0 (the mean of normalised
            features).
        generator: Generator used when ``forward`` gets none, e.g.
            ``torch.Generator().manual_seed(0)``. Must be a CPU generator.

    Raises:
        ValueError: on a negative count or width, or a ratio outside ``[0, 1]``.

    Example:
        >>> aug = SpecAugment(generator=torch.Generator().manual_seed(0)).train()
        >>> x, lens = aug(torch.ones(2, 100, 80), torch.tensor([100, 60]))
        >>> x.shape
        torch.Size([2, 100, 80])
    """

    def __init__(
        self,
        num_freq_masks: int = 2,
        freq_mask_width: int = 27,
        num_time_masks: int = 2,
        time_mask_ratio: float = 0.05,
        *,
        mask_value: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("num_freq_masks", num_freq_masks),
            ("freq_mask_width", freq_mask_width),
            ("num_time_masks", num_time_masks),
        ):
            if value < 0:
                raise ValueError(f"{arg} must be >= 0, got {value}")
        if not 0.0 <= time_mask_ratio <= 1.0:
            raise ValueError(f"time_mask_ratio must lie in [0, 1], got {time_mask_ratio}")
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU generator, got device={generator.device}")
        self.num_freq_masks = num_freq_masks
        self.freq_mask_width = freq_mask_width
        self.num_time_masks = num_time_masks
        self.time_mask_ratio = time_mask_ratio
        self.mask_value = mask_value
        self.generator = generator

    def forward(
        self, x: Tensor, x_lens: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Mask ``x`` in training mode.

        Args:
            x: Features ``(B, T, F)``.
            x_lens: Valid frames ``(B,)``.
            generator: CPU generator for this call; defaults to the module's.

        Returns:
            ``(x_masked, x_lens)``; ``x`` itself in eval mode.

        Raises:
            ValueError: in training mode when no generator is available, or on bad shapes.
        """
        if x.ndim != 3 or x_lens.shape != (x.shape[0],):
            raise ValueError(
                f"expected x (B, T, F) and x_lens (B,), got {tuple(x.shape)} and "
                f"{tuple(x_lens.shape)}"
            )
        if not self.training:
            return x, x_lens
        gen = generator if generator is not None else self.generator
        if gen is None:
            raise ValueError(
                "SpecAugment in training mode needs a generator: pass generator= to the "
                "constructor or to forward"
            )
        batch, num_frames_max, num_feats = x.shape
        lens = x_lens.detach().to("cpu", torch.int64).clamp(0, num_frames_max)  # (B,)
        feat_extent = torch.full((batch,), num_feats, dtype=torch.int64)
        f_starts, f_widths = _draw_bands(
            self.num_freq_masks, feat_extent.clamp(max=self.freq_mask_width), feat_extent, gen
        )
        max_time = (lens.to(torch.float64) * self.time_mask_ratio).floor().to(torch.int64)
        t_starts, t_widths = _draw_bands(self.num_time_masks, max_time, lens, gen)

        freq = _band_mask(f_starts, f_widths, num_feats).to(x.device)  # (B, F)
        time = _band_mask(t_starts, t_widths, num_frames_max).to(x.device)  # (B, T)
        valid = frame_mask(x_lens, num_frames_max)  # (B, T)
        # (B, T, 1) | (B, 1, F) -> (B, T, F), restricted to valid frames
        mask = (time[:, :, None] | freq[:, None, :]) & valid[:, :, None]
        return x.masked_fill(mask, self.mask_value), x_lens
