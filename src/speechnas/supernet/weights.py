"""Shared weights: one tensor per parameter name, big enough for every subnet.

A subnet is built by :func:`~speechnas.models.build_model` like any architecture; its
parameter ``encoder.layers.2.ffn1.net.0.weight`` of shape ``(96, 48)`` is a slice of the
shared tensor of the same name, shaped for the largest choices (``(768, 192)``, say). How a
subnet's tensor is cut from the shared one follows :func:`speechnas.models.inherit.regions`
(leading channels, centre taps of depthwise kernels, GLU halves apart, per-head vectors
flat), the rules by which any model inherits weights from another of its family.

Slices are differentiable views, so a loss computed with a subnet's tensors (via
:func:`torch.func.functional_call`) trains the shared ones; :meth:`SharedWeights.load_into`
copies them into a standalone model instead (inherited weights).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from speechnas.arch import ArchSpec
from speechnas.models import SpeechModel
from speechnas.models.inherit import Inherited, flat_per_head, inherit_tensors, regions

__all__ = ["SharedWeights", "probe_specs"]


def _key(name: str) -> str:
    return name.replace(".", "/")


class SharedWeights(nn.Module):
    """The shared tensors of every model in ``probes`` (see the module docstring).

    Each name gets the elementwise largest shape among the probes' tensors of that name; its
    initial values come from the first probe that has it at that shape (else from the first
    that has it, zero-padded). Float tensors are parameters; integer ones (batch-norm
    counters) are buffers, and so are running statistics.

    Args:
        probes: models whose union of tensors covers every subnet (the largest subnet, and
            one whose consecutive layers differ in width so that every width projection
            exists).
        causal: the layers are causal (kernels keep their right-most taps).
    """

    def __init__(self, probes: Iterable[SpeechModel], *, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        found: dict[str, list[Tensor]] = {}
        buffers: set[str] = set()
        for model in probes:
            for name, t in model.named_parameters():
                found.setdefault(name, []).append(t.detach())
            for name, b in model.named_buffers():
                found.setdefault(name, []).append(b.detach())
                buffers.add(name)
        self.names = sorted(found)
        self.params = nn.ParameterDict()
        self.stats: set[str] = set()
        for name in self.names:
            shape = [max(t.shape[d] for t in found[name]) for d in range(found[name][0].dim())]
            init = next((t for t in found[name] if list(t.shape) == shape), None)
            if init is None:
                init = found[name][0].new_zeros(shape)
                init[tuple(slice(0, n) for n in found[name][0].shape)] = found[name][0]
            if name in buffers:
                self.register_buffer(_key(name), init.clone())
                self.stats.add(name)
            else:
                self.params[_key(name)] = nn.Parameter(init.clone())

    def inherit(self, source: Mapping[str, Tensor]) -> Inherited:
        """Start the shared tensors from ``source``, a trained model's state dict of the
        family, by name and shape (:func:`~speechnas.models.inherit.inherit_tensors`): a
        warm start of the supernet."""
        return inherit_tensors(
            source, {name: self.shared(name) for name in self.names}, causal=self.causal
        )

    def shared(self, name: str) -> Tensor:
        key = _key(name)
        if key in self.params:
            param: Tensor = self.params[key]
            return param
        if name in self.stats:
            return self.get_buffer(key)
        raise KeyError(f"no shared tensor {name!r}; the supernet's probes do not have it")

    def cut(self, name: str, shape: torch.Size | tuple[int, ...]) -> Tensor:
        """The slice of shared tensor ``name`` that a subnet's tensor of ``shape`` uses
        (:func:`~speechnas.models.inherit.regions`)."""
        full = self.shared(name)
        shape = tuple(shape)
        if full.dim() == 0 or tuple(full.shape) == shape:
            return full
        if flat_per_head(name):
            flat = full.reshape(-1)
            ((index, _),) = regions(name, tuple(flat.shape), (math.prod(shape),), causal=False)
            out = flat[index].view(shape) if math.prod(shape) <= flat.numel() else flat
        else:
            fits = len(shape) == full.dim() and all(
                n <= f for n, f in zip(shape, full.shape, strict=True)
            )
            parts = (
                [full[index] for index, _ in regions(name, full.shape, shape, causal=self.causal)]
                if fits
                else [full]
            )
            out = parts[0] if len(parts) == 1 else torch.cat(parts)
        if tuple(out.shape) != shape:
            raise ValueError(
                f"{name}: shape {shape} does not fit in the shared {tuple(full.shape)}"
            )
        return out

    def tensors_for(self, model: SpeechModel) -> dict[str, Tensor]:
        """Every parameter and buffer of ``model`` (a subnet) cut from the shared tensors."""
        out = {name: self.cut(name, p.shape) for name, p in model.named_parameters()}
        out.update({name: self.cut(name, b.shape) for name, b in model.named_buffers()})
        return out

    @torch.no_grad()
    def load_into(self, model: SpeechModel) -> SpeechModel:
        """Copy the inherited weights into ``model`` (a subnet built from its spec)."""
        for name, t in self.tensors_for(model).items():
            target = (
                model.get_parameter(name) if _is_param(model, name) else model.get_buffer(name)
            )
            target.copy_(t)
        return model


def _is_param(model: nn.Module, name: str) -> bool:
    try:
        model.get_parameter(name)
    except AttributeError:
        return False
    return True


def probe_specs(largest: ArchSpec, narrower: int) -> list[ArchSpec]:
    """Specs whose models hold every tensor a subnet of ``largest``'s slots can have.

    ``largest`` itself, and two copies whose odd (then even) layers are ``narrower``: every
    layer after the first then has a width projection, once ``(narrow, wide)`` and once
    ``(wide, narrow)``, so the shared one is ``(wide, wide)``.
    """
    out = [largest]
    for parity in (1, 0):
        layers = [
            dataclasses.replace(layer, width=narrower) if i % 2 == parity else layer
            for i, layer in enumerate(largest.layers)
        ]
        out.append(dataclasses.replace(largest, layers=tuple(layers)))
    return out
