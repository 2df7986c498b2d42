"""The encoder-layer interface every family implements.

Legend: B batch, T frames (at the layer's frame rate), C input width, D output width.
"""

from __future__ import annotations

import abc
from typing import Any

from torch import Tensor, nn

__all__ = ["EncoderLayer"]


class EncoderLayer(nn.Module, abc.ABC):
    """One encoder layer, built from a :class:`~speechnas.arch.LayerSpec`.

    Contract (``tests/models/test_layers.py`` runs every family through it):

    * ``forward(x (B, T, C), x_lens (B,)) -> (B, T, D)`` with ``C = in_width`` and
      ``D = width``. Input frames past ``x_lens`` are zero and so are the output's.
    * Padding invariance: in eval mode an utterance's output does not depend on the other
      items of its batch.
    * A layer built with ``causal=True`` reads no future frame beyond what its streaming
      configuration allows, and runs chunk by chunk: starting from ``initial_state(B)``,
      feeding consecutive chunks of a batch whose items all have the full length through
      ``step(chunk, state) -> (out, state)`` and concatenating the outputs gives
      ``forward`` on the whole (within 1e-4), for any chunk sizes the encoder uses.
      ``step(chunk, state, valid)`` with ``valid < T_chunk`` treats the frames after the
      first ``valid`` as padding of a fixed-size last chunk: the first ``valid`` output
      frames are those of an utterance that ends there. States may hold 0-dim integer
      tensors where they hold ints (positions, frame counts), as in an exported stream step.
    * ``macs(num_frames)``: multiply-accumulates of ``forward`` on one utterance of
      ``num_frames`` frames, counting matrix products (``nn.Linear``, convolutions, LSTMs and
      :class:`~speechnas.models._blocks.MatMul`) only; equal to what forward hooks on those
      modules count.
    * ``activation_elements(num_frames)``: the largest number of activation elements alive at
      once inside ``forward`` for one utterance (input and output included), for memory
      estimates.
    * ``residual_outputs()``: the last affine map of each residual branch (``h = h + f(h)``):
      a linear map, or the scale and shift of a normalisation where one ends the branch;
      each has a ``weight`` and a ``bias`` (or ``None``). With them at zero the layer computes
      only its skip path (and what follows the sum: a final normalisation or activation, if
      it has one). A family without such branches returns none.
    * ``close_from_layers``: the fewest layers a stack of this family must have for
      :meth:`~speechnas.models.SpeechModel.zero_residual_branches` to close its branches (a
      shallow stack does not stall on the blank plateau, and one that starts as its skip
      paths can learn slower).
    """

    in_width: int
    width: int
    #: Frames per ``step`` must be a multiple of this (a stream's last step may be shorter).
    step_multiple: int = 1
    #: Stacks with fewer layers keep their residual branches as initialised.
    close_from_layers: int = 1

    def residual_outputs(self) -> list[nn.Module]:
        """The last affine map of each residual branch (none unless a family has them)."""
        return []

    @abc.abstractmethod
    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """Full-sequence forward; see the class docstring."""

    def initial_state(self, batch_size: int) -> Any:
        """State before the first chunk of a stream."""
        raise NotImplementedError(f"{type(self).__name__} does not stream")

    def step(self, x: Tensor, state: Any, valid: int | Tensor | None = None) -> tuple[Tensor, Any]:
        """Process the next chunk ``(B, T_chunk, C)`` of a stream (``valid``: see above)."""
        raise NotImplementedError(f"{type(self).__name__} does not stream")

    @abc.abstractmethod
    def macs(self, num_frames: int) -> int:
        """Analytic multiply-accumulates for one utterance of ``num_frames`` frames."""

    @abc.abstractmethod
    def activation_elements(self, num_frames: int) -> int:
        """Peak live activation elements inside ``forward`` for one utterance."""
