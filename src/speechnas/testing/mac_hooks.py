"""Count multiply-accumulates with forward hooks, to check analytic ``macs()`` formulas.

Every :class:`~speechnas.models._layer.EncoderLayer` states its MACs analytically; this module
counts them empirically by running the module once and adding up what the matrix-product
modules it calls actually computed, so the two can be compared in tests.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from speechnas.models._blocks import MatMul

__all__ = ["count_macs"]

# Gate blocks per recurrent cell: each computes ``hidden`` outputs from (input, hidden).
_RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _linear_macs(module: nn.Linear, out: Tensor) -> int:
    rows = out.numel() // module.out_features  # every leading dim is a row
    return rows * module.in_features * module.out_features


def _conv_macs(module: nn.Conv1d | nn.Conv2d | nn.Conv3d, out: Tensor) -> int:
    # out.numel() = batch * out_channels * output positions; each output element is a dot
    # product over (in_channels / groups) * prod(kernel) inputs.
    per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
    return out.numel() * per_output


def _rnn_time_steps(inp: Tensor | PackedSequence) -> int:
    """Cell evaluations per direction and layer: real frames only for packed input."""
    if isinstance(inp, PackedSequence):
        return int(inp.batch_sizes.sum())
    if inp.dim() == 2:  # unbatched (T, input)
        return int(inp.shape[0])
    return int(inp.shape[0] * inp.shape[1])  # (B, T, input) or (T, B, input)


def _rnn_macs(module: nn.RNNBase, inp: Tensor | PackedSequence) -> int:
    gates = _RNN_GATES[module.mode]
    hidden = module.hidden_size
    recurrent = module.proj_size or hidden  # what the cell feeds back (and passes up)
    directions = 2 if module.bidirectional else 1
    per_step = 0
    for layer in range(module.num_layers):
        layer_in = module.input_size if layer == 0 else recurrent * directions
        per_step += gates * hidden * (layer_in + recurrent)
        if module.proj_size:
            per_step += hidden * module.proj_size
    return _rnn_time_steps(inp) * directions * per_step


def _matmul_macs(a: Tensor, out: Tensor) -> int:
    # ``a @ b`` (..., m, k) @ (..., k, n) -> (..., m, n): each output element sums k products,
    # batch broadcasting included; also right for the 1-D cases (k = a.shape[-1]).
    return out.numel() * int(a.shape[-1])


def count_macs(module: nn.Module, *inputs: Any) -> int:
    """Run ``module(*inputs)`` once under ``torch.no_grad()`` and count its MACs.

    Forward hooks on every submodule (``module`` itself included) of these types add up:

    * ``nn.Linear``: ``in_features * out_features`` per output row (every leading dimension
      of the output is a row).
    * ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Conv3d``: ``in_channels / groups * out_channels *
      prod(kernel_size)`` per output position (per batch item), i.e. per output element
      ``in_channels / groups * prod(kernel_size)``; strides, padding and dilation enter through
      the output size.
    * ``nn.LSTM`` (and ``nn.GRU`` / ``nn.RNN`` with 3 / 1 gates instead of 4): per direction,
      per layer, per time step ``4 * hidden * (layer_input + hidden)``, where ``layer_input``
      is ``input_size`` for the first layer and ``directions * hidden`` above it (with
      ``proj_size`` the recurrent size is ``proj_size`` and the projection adds
      ``hidden * proj_size``). Time steps come from the actual input: the sum of
      ``batch_sizes`` for a ``PackedSequence`` (real frames only), ``batch * T`` for a tensor.
    * :class:`~speechnas.models._blocks.MatMul` (``a @ b``): ``batch dims * m * k * n``.

    Biases, normalisations, activations and other elementwise work are not counted, and
    neither is anything computed outside these modules (e.g. a bare ``torch.matmul``). The
    module's train/eval mode is left as it is.

    Args:
        module: The module to run.
        *inputs: Positional arguments of ``module``'s forward.

    Returns:
        The total multiply-accumulates of the one forward pass.

    Raises:
        ValueError: If ``module`` contains an ``nn.MultiheadAttention``: it computes its
            projections from its weights without calling its submodules, so hooks would
            silently miss them (build attention from ``nn.Linear`` and ``MatMul`` instead).

    Example:
        >>> count_macs(nn.Linear(3, 4), torch.zeros(2, 5, 3))
        120
    """
    for name, sub in module.named_modules():
        if isinstance(sub, nn.MultiheadAttention):
            raise ValueError(
                f"module={type(module).__name__} is invalid: its submodule {name or '<root>'!r} "
                "is an nn.MultiheadAttention, whose MACs forward hooks cannot see"
            )

    total = 0

    def hook(sub: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        nonlocal total
        if isinstance(sub, nn.Linear):
            total += _linear_macs(sub, out)
        elif isinstance(sub, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            total += _conv_macs(sub, out)
        elif isinstance(sub, nn.RNNBase):
            total += _rnn_macs(sub, args[0])
        elif isinstance(sub, MatMul):
            total += _matmul_macs(args[0], out)

    counted = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNNBase, MatMul)
    handles = [
        sub.register_forward_hook(hook) for sub in module.modules() if isinstance(sub, counted)
    ]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total
