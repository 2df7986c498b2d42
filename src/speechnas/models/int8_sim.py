"""Training that sees the INT8 export's rounding: fake quantisation of every linear layer.

The INT8 export (:func:`speechnas.export.quantize.to_int8`) quantises the matrix products
of a model dynamically: each weight matrix to signed 8 bits per output channel
(symmetric), each input to unsigned 8 bits per call over the whole tensor (asymmetric).
:func:`simulate_int8` makes every :class:`torch.nn.Linear` of a model compute with both
roundings in its forward pass, with straight-through gradients (the rounding is treated as
the identity when differentiating), so that a short fine-tune moves the float weights to
where their rounded copies work: quantisation-aware training for a dynamic quantiser. The
weights themselves stay float and keep their names, so checkpoints and exports are those
of the plain model. Products that bypass a layer's forward (``F.linear`` on its weight
elsewhere) are not simulated. The input's range is the whole tensor's, as the export takes
it per call: in training that is the padded batch, at deployment one utterance, so training
rounds a little more coarsely than the deployed model does.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["fake_int8_input", "fake_int8_weight", "simulate_int8"]


def _straight_through(x: Tensor, rounded: Tensor) -> Tensor:
    return x + (rounded - x).detach()


def fake_int8_weight(weight: Tensor) -> Tensor:
    """``weight`` (out, in) rounded to signed 8 bits per output channel (row), symmetric."""
    scale = weight.detach().abs().amax(dim=-1, keepdim=True).clamp_min(1e-8) / 127.0
    return _straight_through(weight, torch.clamp(torch.round(weight / scale), -127, 127) * scale)


def fake_int8_input(x: Tensor) -> Tensor:
    """``x`` rounded to unsigned 8 bits over the whole tensor, asymmetric (range includes 0)."""
    lo = torch.clamp(x.detach().min(), max=0.0)
    hi = torch.clamp(x.detach().max(), min=0.0)
    scale = torch.clamp((hi - lo) / 255.0, min=1e-8)
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(x / scale) + zero, 0, 255)
    return _straight_through(x, (q - zero) * scale)


def _forward(self: nn.Linear, x: Tensor) -> Tensor:
    return nn.functional.linear(fake_int8_input(x), fake_int8_weight(self.weight), self.bias)


@contextmanager
def simulate_int8(model: nn.Module) -> Iterator[int]:
    """Within the block every :class:`~torch.nn.Linear` of ``model`` computes with INT8
    rounding (module docstring); yields how many layers do. Afterwards they are as before."""
    layers = [m for m in model.modules() if type(m) is nn.Linear]
    for layer in layers:
        layer.forward = types.MethodType(_forward, layer)  # type: ignore[method-assign]
    try:
        yield len(layers)
    finally:
        for layer in layers:
            del layer.forward
