"""Extraction problems over candidate :class:`~speechnas.arch.LayerSpec` s, priced by a
:class:`~speechnas.hardware.lut.LatencyTable`.

A candidate layer's latency is the table's estimate of its part, the very part
:func:`~speechnas.hardware.lut.model_parts` cuts from a model of the base spec with that layer
in place; ``base_ms`` is the estimate of the base spec's other parts (front-end, stem,
look-ahead, mid-encoder reduction, encoder glue, head). A skipped layer has no part and costs
0 ms.

Why one width: a part's signature holds its input width, and the stem, the reduction, the
glue and the head read the widths of the first, a middle and the last kept layer. Were widths
to vary, a layer's cost would depend on which earlier layers are kept and how wide they are,
and the total would not be a sum over positions. With one width shared by the base spec's
layers and every candidate that is not skipped (kernels, heads, expansions, activations,
norms and skips may all vary), every part other than the layers is the same whatever is
chosen, so ``base_ms + sum(chosen latencies)`` *equals* the table's estimate of the chosen
spec and the extraction is exact with respect to the table.

Not enforced by the knapsack: an :class:`~speechnas.arch.ArchSpec` needs a kept layer (two
around a mid-encoder reduction). :func:`extracted_spec` raises ``ValueError`` on a choice
that breaks this; give the positions that must stay no skip candidate to rule it out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from speechnas.arch import ArchSpec, LayerSpec
from speechnas.extract._knapsack import Candidate, Extraction, ExtractionProblem
from speechnas.hardware.lut import LatencyTable, Part, model_parts
from speechnas.hardware.measure import untrained_model

__all__ = ["extracted_spec", "layer_problem"]


def _layer_parts(spec: ArchSpec, audio_s: float) -> tuple[list[Part], list[Part]]:
    """The parts of ``spec``'s kept layers (first to last), and all its other parts."""
    parts = model_parts(untrained_model(spec), spec, audio_s)
    layers = [p for p in parts if p.kind.startswith("layer:")]
    if len(layers) != len(spec.kept_layers):
        raise RuntimeError(
            f"expected {len(spec.kept_layers)} layer parts of {spec.summary()}, "
            f"found {len(layers)}"
        )
    return layers, [p for p in parts if not p.kind.startswith("layer:")]


def _check_one_width(base: ArchSpec, candidates: Sequence[Sequence[LayerSpec]]) -> None:
    widths = {layer.width for layer in base.kept_layers}
    for i, position in enumerate(candidates):
        for k, layer in enumerate(position):
            if not isinstance(layer, LayerSpec):
                raise ValueError(f"candidates[{i}][{k}]={layer!r} is not a LayerSpec")
            if not layer.skip:
                widths.add(layer.width)
    if len(widths) > 1:
        raise ValueError(
            f"the base spec's kept layers and the candidates that are not skipped have widths "
            f"{sorted(widths)}; expected one width (see speechnas.extract.layers)"
        )


def layer_problem(
    base: ArchSpec,
    candidates: Sequence[Sequence[LayerSpec]],
    scores: Sequence[Sequence[float]],
    table: LatencyTable,
) -> ExtractionProblem[LayerSpec]:
    """The extraction problem of choosing ``base.layers[i]`` among ``candidates[i]``.

    Args:
        base: Everything but the layers (and the context each candidate is priced in).
        candidates: Per position of ``base.layers``, the layers it may take (a
            ``LayerSpec(skip=True)`` for the identity).
        scores: The score of each candidate, of the same shape (higher is better; summed).
        table: Prices the parts, on its own audio length.

    Returns:
        A problem whose labels are the candidate ``LayerSpec`` s.

    Raises:
        ValueError: shapes that do not match ``base.layers``, or more than one width (see the
            module docstring).
    """
    if len(candidates) != len(base.layers):
        raise ValueError(
            f"candidates has {len(candidates)} positions; expected one per layer of the base "
            f"spec ({len(base.layers)})"
        )
    if len(scores) != len(candidates):
        raise ValueError(
            f"scores has {len(scores)} positions; expected one per position of candidates "
            f"({len(candidates)})"
        )
    _check_one_width(base, candidates)
    _, others = _layer_parts(base, table.audio_s)
    base_ms = table.estimate(others)[0]
    reduction = base.time_reduction_layer
    priced: dict[tuple[LayerSpec, bool], float] = {}
    layers = []
    for i, (position, values) in enumerate(zip(candidates, scores, strict=True)):
        if len(position) != len(values):
            raise ValueError(
                f"position {i}: {len(position)} candidates and {len(values)} scores; expected "
                "the same number"
            )
        # A layer's part depends on its position only through its side of the reduction.
        after = bool(reduction) and i >= reduction
        options = []
        for layer, score in zip(position, values, strict=True):
            if layer.skip:
                latency = 0.0
            elif (layer, after) in priced:
                latency = priced[layer, after]
            else:
                context = dataclasses.replace(
                    base, layers=(*base.layers[:i], layer, *base.layers[i + 1 :])
                )
                kept_before = sum(1 for lay in context.layers[:i] if not lay.skip)
                part = _layer_parts(context, table.audio_s)[0][kept_before]
                latency = priced[layer, after] = table.estimate([part])[0]
            options.append(Candidate(layer, score, latency))
        layers.append(tuple(options))
    return ExtractionProblem(tuple(layers), base_ms)


def extracted_spec(base: ArchSpec, extraction: Extraction[LayerSpec]) -> ArchSpec:
    """``base`` with the extracted layers.

    Raises:
        ValueError: the choice is not a valid architecture (no kept layer, or none on one
            side of the mid-encoder reduction).
    """
    return dataclasses.replace(base, layers=extraction.labels)
