"""Multi-fidelity estimation: train up a ladder of (data fraction, epochs) rungs, stopping early.

A trial trains on the first rung's fraction of the training set, is scored on dev after every
epoch, and reports its best dev WER of the rung to the fidelity twin (at step
``reduction_factor ** k`` for rung ``k``, so Optuna's successive halving and Hyperband rungs
are exactly the ladder's). The pruner then stops it or promotes it to the next rung, which
continues from its best weights on a larger fraction. Within a rung, training stops once dev
WER has not improved for ``early_stop_patience`` epochs.

Subsets are nested (each fraction's utterances include every smaller fraction's) and the
tokenizer is always built from the whole training set, so the vocabulary does not change
between rungs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.reports.curves import read_history
from speechnas.search.config import FidelityConfig, SearchConfig
from speechnas.train import train

__all__ = [
    "FidelityOutcome",
    "PatientPruner",
    "dev_manifest",
    "make_pruner",
    "subset_manifests",
    "train_ladder",
]


#: ``max_epochs`` of a rung whose budget is in steps or minutes only.
_UNLIMITED_EPOCHS = 100_000


class _Competitors(optuna.study.Study):
    """The fidelity study as its pruner should see it: without failed twins.

    A failed twin (an interrupted trial's, or one whose training raised) keeps what it
    reported before it stopped; counted, it would be a competitor the uninterrupted search
    never had, and a resumed search would prune differently. Optuna's Hyperband views a study
    through a subclass in the same way.
    """

    def __init__(self, study: optuna.Study) -> None:
        # NOTE: ``_storage`` is how Optuna's own pruners reach a study's storage.
        super().__init__(
            study_name=study.study_name,
            storage=study._storage,
            sampler=study.sampler,
            pruner=study.pruner,
        )

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return [t for t in super().get_trials(deepcopy, states) if t.state != TrialState.FAIL]

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        trials = super()._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if t.state != TrialState.FAIL]


class PatientPruner(optuna.pruners.BasePruner):
    """Stops a trial only once ``min_trials`` trials have reported at its step.

    ``inner`` is always consulted, so that it records the trial at its rungs (successive
    halving ranks each newcomer against every trial recorded before), but its verdict is
    ignored while fewer than ``min_trials`` trials have reached the step: on its own,
    successive halving judges the second trial of a rung against the first alone. Failed
    twins count for neither (:class:`_Competitors`), so that a search resumed after a kill
    prunes as the uninterrupted one. (Hyperband still places a twin in its bracket by its
    number, which an interrupted trial shifts.)
    """

    def __init__(self, inner: optuna.pruners.BasePruner, min_trials: int) -> None:
        self.inner = inner
        self.min_trials = min_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        competitors = _Competitors(study)
        verdict = self.inner.prune(competitors, trial)
        reached = sum(
            1 for t in competitors.get_trials(deepcopy=False) if step in t.intermediate_values
        )
        return verdict and reached >= self.min_trials


def make_pruner(config: FidelityConfig) -> optuna.pruners.BasePruner:
    """Optuna's pruner for the ladder: rung ``k`` reports at step ``reduction_factor ** k``."""
    eta = config.reduction_factor
    top = eta ** (len(config.rungs) - 1)
    inner: optuna.pruners.BasePruner
    if config.pruner in ("none", "predicted_front") or len(config.rungs) == 1:
        return optuna.pruners.NopPruner()
    if config.pruner == "successive_halving":
        inner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=eta)
    elif config.pruner == "hyperband":
        inner = optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=top, reduction_factor=eta
        )
    else:
        inner = optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0)
    return PatientPruner(inner, config.min_trials)


def dev_manifest(config: SearchConfig) -> Path:
    """The dev set trials are scored on: all of it, or a seeded sample (written once). A
    dev set of several languages is sampled language by language, taking one utterance of
    each in turn (each language's own seeded order), so every language stays in it."""
    n = config.fidelity.dev_utterances
    if n is None:
        return Path(config.manifests.dev_manifest)
    path = config.run_dir / "data" / f"dev_{n}.jsonl.gz"
    if not path.exists():
        utts = read_manifest(config.manifests.dev_manifest)
        languages = sorted({u.language for u in utts})
        if len(languages) == 1:
            keep = random.Random(config.seed).sample(range(len(utts)), min(n, len(utts)))
        else:
            rng = random.Random(config.seed)
            queues = []
            for language in languages:
                indices = [i for i, u in enumerate(utts) if u.language == language]
                rng.shuffle(indices)
                queues.append(indices)
            turns = itertools.zip_longest(*queues)
            order = [i for turn in turns for i in turn if i is not None]
            keep = order[: min(n, len(utts))]
        write_manifest([utts[i] for i in sorted(keep)], path)
    return path


def subset_manifests(config: SearchConfig) -> dict[float, Path]:
    """One manifest per rung fraction (nested, seeded); written once into the run folder."""
    utts = read_manifest(config.manifests.train_manifest)
    order = list(range(len(utts)))
    random.Random(config.seed).shuffle(order)
    out: dict[float, Path] = {}
    for rung in config.fidelity.rungs:
        if rung.fraction >= 1.0:
            out[rung.fraction] = Path(config.manifests.train_manifest)
            continue
        path = config.run_dir / "data" / f"train_{rung.fraction:g}.jsonl.gz"
        if not path.exists():
            keep = sorted(order[: max(1, math.ceil(rung.fraction * len(utts)))])
            write_manifest([utts[i] for i in keep], path)
        out[rung.fraction] = path
    return out


@dataclass
class FidelityOutcome:
    """Where a trial's training ended.

    Attributes:
        rung: the highest rung trained (0-based).
        pruned: stopped by the pruner before the last rung.
        wer, cer: dev scores of the best epoch (by the ladder's metric) of the highest rung.
        curve: one record per epoch (rung, epoch, dev WER/CER, training seconds).
        checkpoint: best weights of the highest rung.
        train_seconds: training time over all rungs.
        languages: with several languages in the dev set, each one's dev WER and CER at that
            epoch (``None`` with one).
    """

    rung: int
    pruned: bool
    wer: float
    cer: float
    checkpoint: Path
    train_seconds: float
    curve: list[dict[str, Any]] = field(default_factory=list)
    languages: dict[str, dict[str, float]] | None = None

    def score(self, metric: str) -> float:
        return self.wer if metric == "wer" else self.cer


def _best_epoch(history: Path, records: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    scored = [r for r in records if "dev_wer" in r]
    if not scored:
        raise RuntimeError(f"{history}: no dev scores were recorded")
    return min(scored, key=lambda r: (r[f"dev_{metric}"], r["epoch"]))


def train_ladder(
    spec: ArchSpec,
    config: SearchConfig,
    twin: optuna.Trial,
    out_dir: Path,
    subsets: dict[float, Path],
    dev: Path,
    stop: Callable[[int, list[dict[str, Any]]], bool] | None = None,
) -> FidelityOutcome:
    """Train ``spec`` up the ladder, reporting to ``twin``; stops where the pruner says, or
    where ``stop(rung, curve so far)`` does (:class:`~speechnas.search.front_stop.FrontStop`).
    The curve's ``step`` counts optimiser steps over the whole ladder."""
    fid = config.fidelity
    init = config.train.init_checkpoint  # a warm start, by shape if the settings say so
    curve: list[dict[str, Any]] = []
    seconds = 0.0
    steps = 0
    outcome: FidelityOutcome | None = None
    for k, rung in enumerate(fid.rungs):
        train_config = config.train.train_config(
            train_manifest=str(subsets[rung.fraction]),
            dev_manifest=str(dev),
            tokenizer_manifest=config.manifests.train_manifest,
            out_dir=str(out_dir / f"rung{k}"),
            arch=spec,
            max_epochs=rung.epochs or _UNLIMITED_EPOCHS,
            max_steps=rung.steps,
            max_minutes=rung.max_minutes,
            eval_every=1,
            early_stop_patience=fid.early_stop_patience,
            select_metric=fid.metric,
            seed=config.seed,
            init_checkpoint=init,
            init_by_shape=config.train.init_by_shape if k == 0 else False,
        )
        result = train(train_config, overwrite=True, progress=False)
        seconds += result.train_seconds
        history = result.out_dir / "history.jsonl"
        records = read_history(history)
        for rec in records:
            curve.append(
                {
                    "rung": k,
                    "epoch": rec["epoch"],
                    "step": steps + int(rec.get("step", 0)),
                    "dev_wer": rec.get("dev_wer"),
                    "dev_cer": rec.get("dev_cer"),
                    "train_seconds": seconds - result.train_seconds + rec["train_seconds"],
                }
            )
        steps += result.steps
        best = _best_epoch(history, records, fid.metric)
        outcome = FidelityOutcome(
            rung=k,
            pruned=False,
            wer=float(best["dev_wer"]),
            cer=float(best["dev_cer"]),
            checkpoint=result.best_checkpoint,
            train_seconds=seconds,
            curve=curve,
            languages=best.get("dev_languages"),
        )
        twin.report(outcome.score(fid.metric), step=fid.reduction_factor**k)
        if k < len(fid.rungs) - 1 and (
            twin.should_prune() or (stop is not None and stop(k, curve))
        ):
            outcome.pruned = True
            return outcome
        init = str(result.best_checkpoint)
    assert outcome is not None
    return outcome
