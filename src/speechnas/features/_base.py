"""The acoustic front-end interface shared by every feature extractor."""

from __future__ import annotations

import abc

from torch import Tensor, nn

__all__ = ["Frontend"]


class Frontend(nn.Module, abc.ABC):
    """Waveforms in, frame features out.

    Contract every front-end keeps (checked by the tests in ``tests/features``):

    * ``forward(wave, wave_lens) -> (feats, feat_lens)`` with ``wave`` of shape ``(B, S)``
      (float, 16 kHz unless the front-end says otherwise), ``wave_lens`` of shape ``(B,)`` int64
      valid samples, ``feats`` of shape ``(B, T, F)`` and ``feat_lens`` of shape ``(B,)`` int64
      valid frames.
    * ``F == num_features``; one frame every ``hop_length`` samples.
    * An utterance of ``S`` valid samples gives ``1 + (S - win_length) // hop_length`` frames
      when ``S >= win_length`` and one zero-padded frame otherwise (see
      :func:`speechnas.features.num_frames`).
    * Padding invariance: an utterance's valid frames do not depend on the other items in the
      batch or on the values of its padding; frames past ``feat_lens`` are zero.

    Legend: ``B`` batch, ``S`` samples, ``T`` frames, ``F`` features.
    """

    num_features: int
    hop_length: int
    win_length: int

    @abc.abstractmethod
    def forward(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Compute features; see the class docstring for shapes."""
