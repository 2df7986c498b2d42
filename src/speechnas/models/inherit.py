"""Weights inherited between architectures of one family, by tensor name and shape.

Two models built from different specs name their tensors alike where they share structure
(``encoder.layers.2.ffn1.net.0.weight``), with shapes that differ where widths, FFN sizes,
kernels or heads differ. A tensor inherits the region it shares with its namesake:

* by default, the leading entries of every dimension (the first ``width`` channels, the
  first ``hidden`` FFN units);
* a depthwise convolution kernel is aligned on its centre taps (on its right-most, most
  recent taps for a causal layer), so a short kernel is the middle of a long one;
* the GLU input projection of a Conformer convolution module is two halves (value and
  gate), aligned separately;
* per-head vectors (relative-position biases, ``(heads, head width)``) are one flat vector
  of the layer width.

:func:`regions` states these rules once; the supernet cuts its subnets' tensors by them
(:mod:`speechnas.supernet.weights`) and :func:`inherit_weights` warm-starts a model from a
checkpoint of another architecture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "VOCABULARY_TENSORS",
    "Inherited",
    "flat_per_head",
    "inherit_tensors",
    "inherit_weights",
    "regions",
    "remap_vocabulary",
]

#: The last two name parts of the head tensors with one row per output token (token
#: embeddings, output layers): ``head.proj.weight``, ``head.decoder.embed.weight``, ...
VOCABULARY_TENSORS = frozenset(
    {("embed", "weight"), ("out", "weight"), ("out", "bias"), ("proj", "weight"), ("proj", "bias")}
)

_GLU = ("conv.pointwise_in.weight", "conv.pointwise_in.bias")
_KERNELS = ("depthwise.conv.weight",)
_PER_HEAD = ("attn.pos_bias_u", "attn.pos_bias_v")

Index = tuple[slice, ...]


def flat_per_head(name: str) -> bool:
    """Whether tensor ``name`` is a per-head vector, aligned as one flat vector."""
    return name.endswith(_PER_HEAD)


def regions(
    name: str, source: tuple[int, ...], target: tuple[int, ...], *, causal: bool
) -> list[tuple[Index, Index]]:
    """``(source index, target index)`` pairs of the entries that a tensor ``name`` of shape
    ``target`` shares with one of shape ``source`` (see the module docstring).

    Both shapes have the same number of dimensions; a per-head vector is given flat.
    """
    if len(source) != len(target):
        raise ValueError(f"{name}: shapes {source} and {target} differ in dimensions")
    src = [slice(0, min(s, t)) for s, t in zip(source, target, strict=True)]
    dst = list(src)
    if name.endswith(_KERNELS) and source:
        ks, kt = source[-1], target[-1]
        k = min(ks, kt)
        start_s, start_t = (ks - k, kt - k) if causal else ((ks - k) // 2, (kt - k) // 2)
        src[-1], dst[-1] = slice(start_s, start_s + k), slice(start_t, start_t + k)
    if name.endswith(_GLU):
        hs, ht = source[0] // 2, target[0] // 2
        h = min(hs, ht)
        value = ((slice(0, h), *src[1:]), (slice(0, h), *dst[1:]))
        gate = ((slice(hs, hs + h), *src[1:]), (slice(ht, ht + h), *dst[1:]))
        return [value, gate]
    return [(tuple(src), tuple(dst))]


@dataclass(frozen=True)
class Inherited:
    """What :func:`inherit_weights` copied.

    Attributes:
        whole: tensors copied entirely (same shape).
        partial: tensors of which a region was copied (the rest keeps its initial values).
        missing: the target's tensors that the source lacks (or has with another number of
            dimensions); they keep their initial values.
        share: inherited entries over all the target's entries.
    """

    whole: int
    partial: int
    missing: tuple[str, ...]
    share: float


@torch.no_grad()
def remap_vocabulary(
    source: Mapping[str, Tensor],
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
    targets: Mapping[str, Tensor],
) -> dict[str, Tensor]:
    """``source`` (a state dict over ``source_pieces``) with its vocabulary tensors (the head
    tensors of :data:`VOCABULARY_TENSORS` with a row per source token) rewritten for
    ``target_pieces``: a token of both keeps its row, a new token takes its row from
    ``targets`` (the model's initial tensors). Other tensors are returned as they are.

    Raises:
        ValueError: a vocabulary tensor of ``source`` has no namesake in ``targets``.
    """
    where = {piece: i for i, piece in enumerate(source_pieces)}
    pairs = [(t, where[p]) for t, p in enumerate(target_pieces) if p in where]
    out = dict(source)
    for name, tensor in source.items():
        if not (name.startswith("head.") and tuple(name.split(".")[-2:]) in VOCABULARY_TENSORS):
            continue
        if tensor.dim() == 0 or tensor.shape[0] != len(source_pieces):
            continue
        target = targets.get(name)
        if target is None:
            raise ValueError(f"{name}: no such tensor in the model to map the vocabulary into")
        mapped = target.detach().clone()
        cols = min(tensor.shape[1], mapped.shape[1]) if tensor.dim() > 1 else None
        for t, s in pairs:
            if cols is None:
                mapped[t] = tensor[s]
            else:
                mapped[t, :cols] = tensor[s, :cols]
        out[name] = mapped
    return out


@torch.no_grad()
def inherit_weights(source: Mapping[str, Tensor], model: nn.Module, *, causal: bool) -> Inherited:
    """Copy into ``model`` the regions of its tensors that ``source`` (a state dict of
    another architecture of the family) shares with them, by name (see :func:`regions`)."""
    return inherit_tensors(source, model.state_dict(keep_vars=True), causal=causal)


@torch.no_grad()
def inherit_tensors(
    source: Mapping[str, Tensor], targets: Mapping[str, Tensor], *, causal: bool
) -> Inherited:
    """Copy into each of ``targets`` (tensors by name, written in place) the region that its
    namesake in ``source`` shares with it (see :func:`regions`)."""
    whole = partial = copied = total = 0
    missing: list[str] = []
    for name, target in targets.items():
        total += target.numel()
        found = source.get(name)
        if found is None or found.dim() != target.dim():
            missing.append(name)
            continue
        if found.shape == target.shape:
            target.copy_(found)
            whole += 1
            copied += target.numel()
            continue
        src, dst = (found.reshape(-1), target.view(-1)) if flat_per_head(name) else (found, target)
        for s, d in regions(name, tuple(src.shape), tuple(dst.shape), causal=causal):
            dst[d] = src[s].to(dst.dtype)
            copied += dst[d].numel()
        partial += 1
    return Inherited(whole, partial, tuple(missing), copied / max(total, 1))
