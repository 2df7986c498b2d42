"""The ``supernet`` strategy: one weight-sharing supernet trained, then thousands of subnets
ranked on inherited weights, every one recorded in the search's study.

The run, inside :func:`~speechnas.search.runner.run_search`:

1. The search space (its macro architecture fixed, the layers elastic; see
   :meth:`SupernetSpace.from_speech_space`) becomes a supernet, trained with the sandwich rule
   on the training manifest for ``train_minutes`` (or ``train_steps``) and saved in
   ``<run>/supernet/supernet.pt``; a resumed search loads it.
   By default, when the space has several depths, there is one supernet per depth instead
   (``split_depth``, :func:`split_by_depth`), each trained on an equal share of the budget in
   ``<run>/supernet/depth<d>/`` and scoring the subnets of its depth
   (:class:`~speechnas.supernet.scoring.ByDepth`): nothing is shared across depths. One
   supernet over all depths favours the deeper subnets, which ranks them much worse against
   stand-alone training (BENCHMARKS.md, "Weight sharing"); ``split_depth: false`` asks for
   it all the same.
2. Subnets are drawn at random or by regularised evolution (``search``), checked cheaply like
   any trial (predicted latency and memory first, then the constraints on measured cost), and
   scored on the trials' dev set (``fidelity.dev_utterances``) with inherited weights
   (:class:`~speechnas.supernet.scoring.SubnetScorer`). Evolution ranks subnets by the first
   objective (scalarised with ``latency_target_ms`` when set).
3. Each drawn subnet is one trial of the study: ``COMPLETE`` with its inherited dev WER and
   CER and its measured cost, or ``PRUNED`` before scoring with the reason. Trials carry
   ``estimator: supernet``. ``n_trials`` counts scored subnets.

The final stage then retrains the best of the front from scratch (``final.top_k``), as for
any strategy. The draws are seeded, so a resumed search replays them, finding the trials
already recorded, and goes on where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from torch import Tensor

from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest
from speechnas.device import training_device
from speechnas.errors import UserError
from speechnas.search.config import SearchConfig
from speechnas.search.fidelity import dev_manifest
from speechnas.search.record import new_attrs, read_attrs
from speechnas.search.store import SearchStore
from speechnas.search.strategies._base import distributions, indices_to_params
from speechnas.space import SpaceEncoding
from speechnas.supernet.scoring import ByDepth, SubnetScorer
from speechnas.supernet.search import SUBNET_STRATEGIES, search_subnets
from speechnas.supernet.space import SupernetSpace
from speechnas.supernet.train import (
    SupernetTrainConfig,
    calibration_batches,
    load_supernet,
    train_supernet,
)

__all__ = ["run_supernet_search", "split_by_depth", "supernet_space", "training_budget"]

log = logging.getLogger(__name__)

#: The supernet's training budget when neither ``train_minutes`` nor ``train_steps`` is set.
DEFAULT_TRAIN_MINUTES = 20.0


def supernet_space(config: SearchConfig) -> SupernetSpace:
    """The supernet space of ``config.space``.

    Raises:
        UserError: the space's macro architecture is not fixed (naming the field).
    """
    try:
        return SupernetSpace.from_speech_space(config.space)
    except ValueError as e:
        raise UserError(f"strategy supernet: {e}") from None


def training_budget(
    options: dict[str, Any], default_minutes: float, share: float = 1.0
) -> tuple[int | None, float | None]:
    """``(steps, minutes)`` of ``share`` of the ``train_steps``/``train_minutes`` strategy
    options (``default_minutes`` when neither is set; a share keeps at least one step)."""
    steps, minutes = options.get("train_steps"), options.get("train_minutes")
    if steps is None and minutes is None:
        minutes = default_minutes
    if share == 1.0:
        return steps, minutes
    return (
        None if steps is None else max(1, round(share * int(steps))),
        None if minutes is None else share * float(minutes),
    )


def _trained_supernet(config: SearchConfig, space: SupernetSpace, share: float, out: Path) -> Path:
    """``out/supernet.pt`` over ``space``, trained on ``share`` of the budget unless there."""
    path = out / "supernet.pt"
    if path.is_file():
        log.info("supernet: using %s", path)
        return path
    options = config.strategy_options
    steps, minutes = training_budget(options, DEFAULT_TRAIN_MINUTES, share)
    log.info("supernet: training (%s)", f"{steps} steps" if steps else f"{minutes:g} min")
    return train_supernet(
        SupernetTrainConfig(
            train_manifest=config.manifests.train_manifest,
            space=space,
            settings=config.train,
            out_dir=str(out),
            max_steps=steps,
            max_minutes=minutes,
            random_subnets=int(options.get("random_subnets", 2)),
            distill=float(options.get("distill", 0.0)),
            seed=config.seed,
        )
    )


def split_by_depth(config: SearchConfig) -> bool:
    """Whether the search trains one supernet per depth: ``split_depth`` if set, else
    whenever its space has more than one depth."""
    option = config.strategy_options.get("split_depth")
    if option is not None:
        return bool(option)
    return config.space.min_layers < config.space.max_layers


def _scorer(config: SearchConfig, space: SupernetSpace) -> tuple[SubnetScorer | ByDepth, str]:
    """The trained supernet(s) of ``space`` scoring on the trials' dev set, and the fidelity
    they give (``split_depth``: one supernet per depth, the budget shared equally)."""
    device = training_device(config.train.device, "train.device")
    split = split_by_depth(config)
    depths = range(space.min_layers, space.max_layers + 1)
    parts = {d: space.at_depth(d) for d in depths} if split else {0: space}
    dev = read_manifest(dev_manifest(config))
    scorers, steps = {}, []
    calibration: list[tuple[Tensor, Tensor]] | None = None
    for depth, part in parts.items():
        out = config.run_dir / "supernet" / (f"depth{depth}" if split else "")
        path = _trained_supernet(config, part, 1.0 / len(parts), out)
        net, tokenizer, saved = load_supernet(path)
        if net.space != part:
            raise UserError(f"{path} is a supernet of another space; move it away to retrain")
        if calibration is None:  # the same batches for every supernet (one tokenizer)
            calibration = []
            if space.base.layers[0].norm == "batchnorm":
                calibration = calibration_batches(
                    config.manifests.train_manifest,
                    tokenizer,
                    int(config.strategy_options.get("calibration_batches", 4)),
                    config.train,
                    seed=config.seed,
                )
        scorers[depth] = SubnetScorer(net.to(device), tokenizer, dev, calibration=calibration)
        steps.append(str(saved["steps"]))
    scorer = ByDepth(space, scorers) if split else scorers[0]
    kind = "supernets-by-depth" if split else "supernet"
    return scorer, f"{kind}:{'+'.join(steps)}steps@dev{scorer.utterances}"


class _Recorder:
    """Writes drawn subnets into the study as finished trials (and finds them on resume)."""

    def __init__(self, config: SearchConfig, store: SearchStore, fidelity: str) -> None:
        self.config = config
        self.store = store
        self.fidelity = fidelity
        self.encoding = SpaceEncoding(config.space)
        self.distributions = distributions(self.encoding)
        self.known: dict[str, optuna.trial.FrozenTrial] = {}
        for t in store.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
        ):
            self.known.setdefault(str(read_attrs(t).arch_id), t)
        self.new = 0

    def add(
        self,
        spec: ArchSpec,
        metrics: dict[str, float],
        *,
        values: list[float] | None,
        reason: str,
        wall_seconds: float,
    ) -> None:
        params = indices_to_params(self.encoding, self.encoding.encode(spec))
        attrs = new_attrs(
            spec=spec.to_dict(),
            arch_id=spec.arch_id,
            fidelity=self.fidelity,
            estimator="supernet",
            metrics=metrics,
            rung=-1 if values is None else 0,
            wall_seconds=wall_seconds,
            reason=reason or None,
        )
        trial = optuna.trial.create_trial(
            params=params,
            distributions=self.distributions,
            values=values,
            state=TrialState.PRUNED if values is None else TrialState.COMPLETE,
            user_attrs=attrs,
        )
        self.store.add_finished(trial)
        self.known[spec.arch_id] = trial
        self.new += 1


def run_supernet_search(
    config: SearchConfig,
    store: SearchStore,
    check: Callable[[ArchSpec], tuple[dict[str, float], str | None]],
    objective_values: Callable[[dict[str, float]], list[float]],
    *,
    max_new_trials: int | None = None,
    on_trial: Callable[[], object] = lambda: None,
) -> None:
    """Run the ``supernet`` strategy of ``config`` into ``store`` (module docstring).

    Args:
        check: a spec's cheap metrics and why it breaks a limit (the search's own check).
        objective_values: the study's values of a trial's metrics.
        max_new_trials: stop after recording this many new trials.
        on_trial: called after each new trial is recorded (progress).
    """
    options = config.strategy_options
    strategy = str(options.get("search", "evolution"))
    if strategy not in SUBNET_STRATEGIES:
        raise UserError(
            f"strategy_options.search={strategy!r}; expected one of {list(SUBNET_STRATEGIES)}"
        )
    space = supernet_space(config)
    scorer, fidelity = _scorer(config, space)
    recorder = _Recorder(config, store, fidelity)
    pending: dict[str, dict[str, float]] = {}

    class _Enough(Exception):
        pass

    def allowed(spec: ArchSpec) -> bool:
        earlier = recorder.known.get(spec.arch_id)
        if earlier is not None:
            return earlier.state == TrialState.COMPLETE
        if max_new_trials is not None and recorder.new >= max_new_trials:
            raise _Enough
        start = time.perf_counter()
        metrics, reason = check(spec)
        if reason is not None:
            recorder.add(
                spec,
                metrics,
                values=None,
                reason=reason,
                wall_seconds=time.perf_counter() - start,
            )
            log.info("subnet %s pruned before scoring: %s", spec.summary(), reason)
            on_trial()
            return False
        pending[spec.arch_id] = metrics
        return True

    def score(spec: ArchSpec) -> float:
        earlier = recorder.known.get(spec.arch_id)
        if earlier is not None:
            return float(earlier.values[0])
        start = time.perf_counter()
        metrics = {**pending.pop(spec.arch_id), **scorer(spec)}
        values = objective_values(metrics)
        recorder.add(
            spec, metrics, values=values, reason="", wall_seconds=time.perf_counter() - start
        )
        on_trial()
        return values[0]

    try:
        found = search_subnets(
            space,
            score,
            evaluations=config.n_trials,
            strategy=strategy,
            population=int(options.get("population", 16)),
            sample_size=int(options.get("sample_size", 4)),
            rate=float(options.get("rate", 0.2)),
            seed=config.seed,
            allowed=allowed,
        )
    except _Enough:
        return
    except ValueError as e:
        raise UserError(f"strategy supernet: {e}") from None
    if found.exhausted:
        log.warning("supernet search ended early: %s", found.exhausted)
