"""The ``darts`` strategy: DARTS proposes, the search's estimator trains what it proposes.

The run, inside :func:`~speechnas.search.runner.run_search`:

1. The space's macro architecture (fixed, as for the supernet; see
   :meth:`SupernetSpace.from_speech_space`) with ``max_layers`` positions of one width
   (``width``, default the widest) is a mixed network: each position holds every distinct
   candidate layer of that width (the space's blocks, kernels, heads dividing the width and
   FFN expansions), and positions from ``min_layers`` on also the identity, so an extracted
   architecture keeps at least ``min_layers`` layers.
2. For each latency target in ``targets_ms`` (milliseconds on ``hardware.table``'s target,
   which the penalty needs), one DARTS run (:func:`~speechnas.darts.train_darts`: weights on
   the training manifest, ``alpha`` on the dev manifest, the penalty
   ``penalty * |E[latency] - target|``) for ``train_minutes`` or ``train_steps``, kept in
   ``<run>/darts/<target>ms/darts.json``; a resumed search reuses finished runs and continues
   an unfinished one from its last checkpoint. Without targets, one run without the latency
   term.
3. Each run's architecture (the best within its target, extracted exactly by dynamic
   programming, or the most likely one) is queued as a trial of the study
   (``estimator: darts``, ``darts_target_ms``) and evaluated like any other proposal: cheap
   checks, then training up the fidelity ladder. ``n_trials`` caps the trials; the search
   ends when the proposals do.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from speechnas.arch import ArchSpec, LayerSpec, layer_identity
from speechnas.darts import DartsConfig, train_darts
from speechnas.errors import UserError
from speechnas.search.config import SearchConfig
from speechnas.search.record import new_attrs, read_attrs
from speechnas.search.store import SearchStore
from speechnas.search.strategies._base import indices_to_params, params_to_indices
from speechnas.search.supernet_strategy import supernet_space, training_budget
from speechnas.space import SpaceEncoding

__all__ = ["DartsProposal", "darts_candidates", "darts_proposals", "queue_darts"]

log = logging.getLogger(__name__)

#: Minutes of each DARTS run when neither ``train_minutes`` nor ``train_steps`` is set.
DEFAULT_TRAIN_MINUTES = 10.0


@dataclass(frozen=True)
class DartsProposal:
    """An architecture DARTS found, and the latency target it was found for (or ``None``)."""

    spec: ArchSpec
    target_ms: float | None


def darts_candidates(
    config: SearchConfig,
) -> tuple[ArchSpec, tuple[tuple[LayerSpec, ...], ...]]:
    """The base architecture and the candidates per position (module docstring).

    Raises:
        UserError: a space whose macro architecture is not fixed, or a width not in it.
    """
    space = supernet_space(config)
    width = int(config.strategy_options.get("width", max(space.widths)))
    if width not in space.widths:
        raise UserError(f"strategy_options.width={width}; the space's widths: {space.widths}")
    heads = [h for h in space.heads if width % h == 0]
    distinct: dict[str, LayerSpec] = {}
    for block, k, h, f in itertools.product(
        space.blocks, space.kernels, heads, space.ffn_expansions
    ):
        layer = space.spec([(width, k, h, f, block)] * space.max_layers).layers[0]
        distinct.setdefault(repr(sorted(layer_identity(space.base.encoder, layer).items())), layer)
    layers = tuple(distinct.values())
    identity = (dataclasses.replace(layers[0], skip=True),)
    candidates = tuple(
        layers + (identity if i >= space.min_layers else ()) for i in range(space.max_layers)
    )
    widest = (width, max(space.kernels), max(heads), max(space.ffn_expansions))
    return space.spec([widest] * space.max_layers), candidates


def _targets(config: SearchConfig) -> list[float | None]:
    raw = config.strategy_options.get("targets_ms")
    if raw is None:
        return [None]
    values = [raw] if isinstance(raw, int | float) else list(raw)
    try:
        targets = sorted({float(v) for v in values})
    except (TypeError, ValueError):
        raise UserError(f"strategy_options.targets_ms={raw!r}; expected milliseconds") from None
    if not targets or any(t <= 0 for t in targets):
        raise UserError(f"strategy_options.targets_ms={raw!r}; expected positive milliseconds")
    if config.hardware is None or config.hardware.table is None:
        raise UserError(
            "strategy darts with targets_ms needs hardware.table (a latency table of the "
            "target, from `speechnas profile --export`) to price the candidates"
        )
    return list(targets)


def _run(config: SearchConfig, target: float | None, out: Path) -> ArchSpec | None:
    path = out / "darts.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if "most_likely" in saved and "failed" not in saved:
            log.info("DARTS at %s ms: using %s", target, path)
            chosen = saved["spec"]
            return ArchSpec.from_dict(chosen) if chosen is not None else None
    base, candidates = darts_candidates(config)
    options = config.strategy_options
    steps, minutes = training_budget(options, DEFAULT_TRAIN_MINUTES)
    hardware = config.hardware
    result = train_darts(
        DartsConfig(
            train_manifest=config.manifests.train_manifest,
            val_manifest=config.manifests.dev_manifest,
            base=base,
            candidates=candidates,
            table=hardware.table if hardware is not None and target is not None else None,
            target_ms=target,
            penalty=float(options.get("penalty", 1.0)),
            settings=config.train,
            alpha_lr=float(options.get("alpha_lr", 3e-3)),
            alpha_warmup_steps=int(options.get("alpha_warmup_steps", 0)),
            max_steps=steps,
            max_minutes=minutes,
            out_dir=str(out),
            seed=config.seed,
        )
    )
    return result.spec


def darts_proposals(config: SearchConfig) -> list[DartsProposal]:
    """Run (or reuse) one DARTS run per target; their architectures, in target order.

    A target below every architecture of the candidates proposes nothing (logged).
    """
    out: list[DartsProposal] = []
    for target in _targets(config):
        name = "none" if target is None else f"{target:g}ms"
        spec = _run(config, target, config.run_dir / "darts" / name)
        if spec is None:
            log.warning("DARTS at %s ms: no architecture of the candidates fits", target)
            continue
        out.append(DartsProposal(spec, target))
    return out


def queue_darts(config: SearchConfig, store: SearchStore) -> int:
    """Run (or reuse) the DARTS runs and queue their distinct architectures, once per study;
    returns the number of trials the search runs in all (those proposals, at most
    ``n_trials``). A study whose proposals are queued (by a search in another run folder,
    say) runs no DARTS again: its queue is in the study."""
    known = store.study.user_attrs.get("darts_proposals")
    if known is None:
        known = _darts_into_queue(config, store)
        store.study.set_user_attr("darts_proposals", known)
    return min(config.n_trials, int(known))


def _darts_into_queue(config: SearchConfig, store: SearchStore) -> int:
    encoding = SpaceEncoding(config.space)
    names = {d.name for d in encoding.decisions}
    present: set[str] = set()  # queued before a kill cut the queueing short
    for t in store.study.get_trials(deepcopy=False):
        if names <= set(t.params):
            present.add(encoding.decode(params_to_indices(encoding, t.params)).arch_id)
        present.add(str(read_attrs(t).arch_id))
    proposals = darts_proposals(config)
    if not proposals:
        raise UserError("strategy darts: no architecture fits any of targets_ms")
    for p in proposals:
        if p.spec.arch_id in present:
            continue
        present.add(p.spec.arch_id)
        store.study.enqueue_trial(
            indices_to_params(encoding, encoding.encode(p.spec)),
            user_attrs=new_attrs(
                estimator="darts", darts_target_ms=p.target_ms, arch_id=p.spec.arch_id
            ),
        )
    return len({p.spec.arch_id for p in proposals})
