"""The search loop: propose, check cheaply, estimate, record; resumable from its database.

For every trial, in order:

1. the strategy proposes an architecture (Optuna ask);
2. an architecture already finished in this study is not trained again: its result is copied;
3. cheap measurements (parameters, MACs, memory, measured CPU latency) are taken on the
   untrained model, and a trial breaking a hard constraint is recorded as pruned, untrained;
4. the rest train up the fidelity ladder (:mod:`speechnas.search.fidelity`), where the
   pruner may stop them;
5. the result goes to the database (Optuna tell) before the next trial starts.

Run it again with the same config and it continues: finished trials are kept, a trial left
running by a killed process is marked failed and retried, and proposals continue as if
nothing had happened (see :func:`~speechnas.search.strategies.proposal_index`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import optuna
import torch
import yaml
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest
from speechnas.errors import UserError
from speechnas.hardware.lut import LatencyTable
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.memo import LatencyMemo
from speechnas.hardware.memory import MemoryModel
from speechnas.hardware.predictor import LatencyPredictor
from speechnas.hardware.targets import TorchCPUTarget
from speechnas.locking import exclusive
from speechnas.presets import preset
from speechnas.search.config import SearchConfig
from speechnas.search.cost import cheap_metrics
from speechnas.search.darts_strategy import darts_proposals
from speechnas.search.fidelity import dev_manifest, make_pruner, subset_manifests, train_ladder
from speechnas.search.objectives import scalarised
from speechnas.search.pareto import pareto_front
from speechnas.search.store import SearchStore, TrialRecord
from speechnas.search.strategies import StrategyContext, make_sampler, suggest_spec
from speechnas.search.strategies._base import indices_to_params, params_to_indices
from speechnas.search.supernet_strategy import run_supernet_search
from speechnas.space import SpaceEncoding
from speechnas.text import build_tokenizer, normalize
from speechnas.train import TrainingDiverged

__all__ = ["SearchSummary", "open_store", "run_search", "summarise"]

log = logging.getLogger(__name__)

#: The reason of a trial pruned on predicted latency or memory starts with this.
PREDICTED_PRUNE = "predicted:"

#: A search stops (keeping what finished) after this many failed trials in a row: something
#: is wrong beyond one architecture.
MAX_FAILURES_IN_A_ROW = 5


@dataclass
class SearchSummary:
    """Where a search stands.

    Attributes:
        finished: complete plus pruned trials.
        complete: trials that reached the last rung.
        stopped_at_rung: trials the pruner stopped, by rung (0-based).
        constrained: trials pruned by a hard constraint before training (with those below).
        predicted_over: of those, trials pruned on predicted latency or memory alone (never
            built for measuring, never trained).
        training_saved_s: the training the predicted prunes saved, estimated as their count
            times the mean wall time of the trials that were trained.
        cached: trials whose architecture had been evaluated before (their copies are not
            counted again as stopped or constrained).
        failed: failed trials (interrupted ones included).
        front: complete trials on the Pareto front of the objectives, one per architecture
            (a cached repeat of an architecture is left out).
        best: the complete trial with the lowest first objective.
    """

    finished: int = 0
    complete: int = 0
    stopped_at_rung: dict[int, int] = field(default_factory=dict)
    constrained: int = 0
    predicted_over: int = 0
    training_saved_s: float = 0.0
    cached: int = 0
    failed: int = 0
    front: list[TrialRecord] = field(default_factory=list)
    best: TrialRecord | None = None

    def describe(self, n_trials: int) -> str:
        """One sentence of counts, as the CLI and the report print it."""
        stopped = ", ".join(f"rung {k}: {n}" for k, n in sorted(self.stopped_at_rung.items()))
        return (
            f"{self.finished} of {n_trials} trials finished: {self.complete} reached the last "
            f"rung; stopped early by the pruner: {stopped or 'none'}; pruned by constraints "
            f"before training: {self.constrained}{self._predicted()}; same architecture as an "
            "earlier trial: "
            f"{self.cached}; failed: {self.failed}; Pareto front: {len(self.front)}."
        )

    def _predicted(self) -> str:
        if not self.predicted_over:
            return ""
        return (
            f" ({self.predicted_over} on predicted latency or memory, saving about "
            f"{self.training_saved_s / 60:.0f} min of training)"
        )


def summarise(records: list[TrialRecord], objectives: tuple[str, ...]) -> SearchSummary:
    out = SearchSummary()
    complete = [r for r in records if r.state == "COMPLETE" and len(r.values) == len(objectives)]
    out.complete = len(complete)
    out.finished = sum(r.finished for r in records)
    out.failed = sum(r.state == "FAIL" for r in records)
    out.cached = sum(r.cached_from is not None for r in records)
    for r in records:
        if r.state != "PRUNED" or r.cached_from is not None:
            continue
        if r.rung < 0:
            out.constrained += 1
            out.predicted_over += r.reason.startswith(PREDICTED_PRUNE)
        else:
            out.stopped_at_rung[r.rung] = out.stopped_at_rung.get(r.rung, 0) + 1
    trained = [r.wall_seconds for r in records if r.rung >= 0 and r.cached_from is None]
    if trained:
        out.training_saved_s = out.predicted_over * sum(trained) / len(trained)
    # A cached trial repeats its first trial's architecture and values: one of them is enough.
    distinct = [r for r in complete if r.cached_from is None]
    points = [tuple(r.values[o] for o in objectives) for r in distinct]
    out.front = sorted((distinct[i] for i in pareto_front(points)), key=lambda r: r.number)
    if complete:
        out.best = min(complete, key=lambda r: (r.values[objectives[0]], r.number))
    return out


def open_store(config: SearchConfig, *, for_search: bool = True) -> SearchStore:
    """The run's database; with ``for_search``, with the strategy's sampler and the pruner."""
    sampler = pruner = None
    if for_search:
        context = StrategyContext(
            encoding=SpaceEncoding(config.space),
            seed=config.seed,
            directions=("minimize",) * len(config.objectives),
            warm_start=tuple(preset(name) for name in config.warm_start),
            options=config.strategy_options,
        )
        try:
            sampler = make_sampler(config.strategy, context)
        except ValueError as e:
            raise UserError(f"strategy: {e}") from e
        pruner = make_pruner(config.fidelity)
    return SearchStore(
        config.storage_url,
        config.name,
        config.objectives,
        config.to_dict(),
        sampler=sampler,
        pruner=pruner,
        create=for_search,
    )


def _vocab_size(config: SearchConfig) -> int:
    if config.train.tokenizer == "bpe":
        return config.train.vocab_size
    utts = read_manifest(config.data.train_manifest)
    texts = [t for t in (normalize(u.text, u.language) for u in utts) if t]
    return build_tokenizer("char", texts).vocab_size


def _objective_values(metrics: dict[str, float], config: SearchConfig) -> list[float]:
    values = [float(metrics[o]) for o in config.objectives]
    if config.latency_target_ms is not None:
        values[0] = scalarised(
            values[0], metrics["latency_ms"], config.latency_target_ms, config.latency_weight
        )
    return values


def _predictor(config: SearchConfig) -> LatencyPredictor | None:
    """The latency predictor of ``config.hardware`` (fitted now), or ``None``."""
    if config.hardware is None or config.hardware.table is None:
        return None
    table = LatencyTable.load(config.hardware.table)
    if abs(table.audio_s - config.latency_seconds) > 1e-9:
        raise UserError(
            f"hardware.table {config.hardware.table} was measured on {table.audio_s:g} s of "
            f"audio but latency_seconds is {config.latency_seconds:g}"
        )
    if config.hardware.latency == "measured":
        # Pruning on a prediction, then measuring here: both must be of this machine's
        # PyTorch CPU at the search's thread count.
        here = TorchCPUTarget(config.train.threads or torch.get_num_threads())
        try:
            table.check_target(here.describe(), source=f"hardware.table {config.hardware.table}")
        except UserError as e:
            raise UserError(
                f"{e}: with latency: measured, latency is measured here in PyTorch with "
                "train.threads threads; use latency: predicted for another target"
            ) from None
    log.info(
        "latency predictor for %s (%s thread(s)) from %d profiled models",
        table.target.get("target"),
        table.target.get("threads"),
        len(table.models),
    )
    return LatencyPredictor(table)


def _memory_model(config: SearchConfig) -> MemoryModel | None:
    """The memory model of ``config.hardware`` (fitted now), or ``None``."""
    if config.hardware is None or config.hardware.memory_table is None:
        return None
    path = config.hardware.memory_table
    memory = MemoryModel.load(path)
    if abs(memory.audio_s - config.latency_seconds) > 1e-9:
        raise UserError(
            f"hardware.memory_table {path} was measured on {memory.audio_s:g} s of audio but "
            f"latency_seconds is {config.latency_seconds:g}"
        )
    try:
        memory.fit()
    except ValueError as e:
        raise UserError(f"hardware.memory_table {path}: {e}") from None
    log.info(
        "memory model from %d measured models (%s thread(s), %s)",
        len(memory),
        memory.threads,
        memory.machine.get("cpu"),
    )
    return memory


def _over(name: str, value: float, low: float, high: float, limit: float | None) -> list[str]:
    """Why a predicted ``value`` of metric ``name`` breaks ``limit`` (empty when it does not)."""
    if limit is None or value <= limit:
        return []
    return [f"{name} {value:.4g} > {limit:.4g} (10-90% band {low:.4g}-{high:.4g})"]


class _Search:
    """One process's part of a search (state that lives only as long as the process)."""

    def __init__(self, config: SearchConfig, store: SearchStore) -> None:
        self.config = config
        self.store = store
        self.encoding = SpaceEncoding(config.space)
        self.vocab_size = _vocab_size(config)
        self.subsets = subset_manifests(config)
        self.dev = dev_manifest(config)
        self.predictor = _predictor(config)
        self.memory = _memory_model(config)
        self.latency_memo = LatencyMemo() if config.reuse_latency else None

    def run_trial(self) -> TrialRecord:
        study, config = self.store.study, self.config
        trial = study.ask()
        spec = suggest_spec(trial, self.encoding)
        start = time.perf_counter()
        trial.set_user_attr("spec", spec.to_dict())
        trial.set_user_attr("arch_id", spec.arch_id)
        trial.set_user_attr("fidelity", config.fidelity.signature)
        log.info("trial %d: %s (%s)", trial.number, spec.summary(), spec.arch_id)

        earlier = self.store.cached(spec.arch_id)
        if earlier is not None:
            self._copy(trial, earlier)
        else:
            self._evaluate(trial, spec, start)
        frozen = study.get_trials(deepcopy=False)[trial.number]
        return TrialRecord.from_frozen(frozen, config.objectives)

    def _copy(self, trial: optuna.Trial, earlier: optuna.trial.FrozenTrial) -> None:
        for key in ("metrics", "rung", "curve", "values", "reason"):
            if key in earlier.user_attrs:
                trial.set_user_attr(key, earlier.user_attrs[key])
        trial.set_user_attr("cached_from", earlier.number)
        trial.set_user_attr("wall_seconds", 0.0)
        log.info(
            "trial %d: same architecture as trial %d, not trained again",
            trial.number,
            earlier.number,
        )
        if earlier.state == TrialState.COMPLETE:
            self.store.study.tell(trial, earlier.values)
        else:
            self.store.study.tell(trial, state=TrialState.PRUNED)

    def _fail(self, trial: optuna.Trial, twin: optuna.Trial, reason: str, start: float) -> None:
        trial.set_user_attr("reason", reason)
        trial.set_user_attr("wall_seconds", time.perf_counter() - start)
        self.store.fidelity.tell(twin, state=TrialState.FAIL)
        self.store.study.tell(trial, state=TrialState.FAIL)
        log.warning("trial %d failed: %s", trial.number, reason)

    def _predict(self, spec: ArchSpec) -> tuple[dict[str, float], list[str]]:
        """Predicted latency and memory (as trial metrics), and why they break the limits."""
        model = untrained_model(spec)  # one build serves both predictors
        limits = self.config.constraints
        predicted: dict[str, float] = {}
        over: list[str] = []
        if self.predictor is not None:
            lat = self.predictor.predict(spec, model)
            predicted["predicted_latency_ms"] = lat.latency_ms
            predicted["predicted_low_ms"] = lat.low_ms
            predicted["predicted_high_ms"] = lat.high_ms
            over += _over(
                "latency_ms", lat.latency_ms, lat.low_ms, lat.high_ms, limits.max_latency_ms
            )
        if self.memory is not None:
            mem = self.memory.predict(spec, model)
            predicted["predicted_memory_mb"] = mem.memory_mb
            predicted["predicted_memory_low_mb"] = mem.low_mb
            predicted["predicted_memory_high_mb"] = mem.high_mb
            over += _over(
                "memory_mb", mem.memory_mb, mem.low_mb, mem.high_mb, limits.max_memory_mb
            )
        return predicted, over

    def check(self, spec: ArchSpec) -> tuple[dict[str, float], str | None]:
        """Cheap measurements of ``spec`` and why it breaks a limit (``None``: within).

        Latency and memory are predicted first; a spec predicted over a limit is not even
        built for measuring (its metrics are the predictions, the reason starts with
        :data:`PREDICTED_PRUNE`). The rest are measured on the untrained model.
        """
        config = self.config
        predicted: dict[str, float] = {}
        if config.hardware is not None:
            predicted, over = self._predict(spec)
            if over:
                return predicted, f"{PREDICTED_PRUNE} " + "; ".join(over)
        metrics = cheap_metrics(
            spec,
            vocab_size=self.vocab_size,
            audio_seconds=config.latency_seconds,
            repeats=config.latency_repeats,
            threads=config.train.threads,
            memo=self.latency_memo,
        )
        metrics.update(predicted)
        if config.hardware is not None and config.hardware.latency == "predicted":
            # The target is not this machine: its latency is the table's prediction.
            metrics["measured_latency_ms"] = metrics["latency_ms"]
            metrics["latency_ms"] = predicted["predicted_latency_ms"]
            metrics["rtf"] = metrics["latency_ms"] / 1000.0 / config.latency_seconds
        if self.memory is not None:
            # Measured on the memory table's machine and fitted: replaces the analytic estimate.
            metrics["analytic_memory_mb"] = metrics["memory_mb"]
            metrics["memory_mb"] = predicted["predicted_memory_mb"]
        broken = config.constraints.violations(metrics)
        return metrics, ("constraint: " + "; ".join(broken)) if broken else None

    def _evaluate(self, trial: optuna.Trial, spec: ArchSpec, start: float) -> None:
        config, study = self.config, self.store.study
        metrics, reason = self.check(spec)
        trial.set_user_attr("metrics", metrics)
        if reason is not None:
            trial.set_user_attr("rung", -1)
            trial.set_user_attr("reason", reason)
            trial.set_user_attr("wall_seconds", time.perf_counter() - start)
            log.info("trial %d pruned before training: %s", trial.number, reason)
            study.tell(trial, state=TrialState.PRUNED)
            return
        twin = self.store.fidelity.ask()
        trial.set_user_attr("twin", twin.number)
        out_dir = config.run_dir / "trials" / f"{trial.number:04d}"
        try:
            outcome = train_ladder(spec, config, twin, out_dir, self.subsets, self.dev)
        except TrainingDiverged as e:
            self._fail(trial, twin, f"diverged: {e}", start)
            return
        except UserError:
            raise  # bad data or config: every trial would fail the same way
        except Exception as e:  # one architecture's failure must not end the search
            log.exception("trial %d (%s) failed", trial.number, spec.arch_id)
            self._fail(trial, twin, f"error: {type(e).__name__}: {e}", start)
            return
        metrics = {**metrics, "wer": outcome.wer, "cer": outcome.cer}
        values = _objective_values(metrics, config)
        trial.set_user_attr("metrics", metrics)
        trial.set_user_attr("rung", outcome.rung)
        trial.set_user_attr("curve", outcome.curve)
        trial.set_user_attr("checkpoint", str(outcome.checkpoint))
        trial.set_user_attr("train_seconds", outcome.train_seconds)
        trial.set_user_attr("wall_seconds", time.perf_counter() - start)
        if outcome.pruned:
            trial.set_user_attr("values", values)
            trial.set_user_attr("reason", f"stopped at rung {outcome.rung}")
            self.store.fidelity.tell(twin, state=TrialState.PRUNED)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            self.store.fidelity.tell(twin, outcome.score(config.fidelity.metric))
            study.tell(trial, values)
        log.info(
            "trial %d: rung %d, dev WER %.3f, latency %.0f ms%s",
            trial.number,
            outcome.rung,
            outcome.wer,
            metrics["latency_ms"],
            " (stopped)" if outcome.pruned else "",
        )


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _status(summary: SearchSummary, config: SearchConfig) -> str:
    best = "-"
    if summary.best is not None:
        best = f"{summary.best.values[config.objectives[0]]:.3f}"
    return f"best {config.objectives[0]} {best} | front {len(summary.front)}"


#: How often the progress bar of a supernet search re-reads the study.
SUBNET_PROGRESS_SECONDS = 2.0


def _done(summary: SearchSummary, config: SearchConfig) -> int:
    """Progress: scored subnets for the supernet strategy (``n_trials`` counts those), else
    finished trials."""
    return summary.complete if config.strategy == "supernet" else summary.finished


def _queue_darts(config: SearchConfig, store: SearchStore) -> int:
    """Run (or reuse) the DARTS runs and queue their architectures not yet in the study;
    returns the number of trials the search then runs in all."""
    encoding = SpaceEncoding(config.space)
    names = {d.name for d in encoding.decisions}
    present: set[str] = set()
    for t in store.study.get_trials(deepcopy=False):
        if t.state == TrialState.FAIL:
            continue  # an interrupted trial's retry is queued (with its parameters) instead
        if names <= set(t.params):
            present.add(encoding.decode(params_to_indices(encoding, t.params)).arch_id)
        present.add(str(t.user_attrs.get("arch_id")))
    proposals = darts_proposals(config)
    if not proposals:
        raise UserError("strategy darts: no architecture fits any of targets_ms")
    for p in proposals:
        if p.spec.arch_id in present:
            continue
        present.add(p.spec.arch_id)
        store.study.enqueue_trial(
            indices_to_params(encoding, encoding.encode(p.spec)),
            user_attrs={
                "estimator": "darts",
                "darts_target_ms": p.target_ms,
                "arch_id": p.spec.arch_id,
            },
        )
    return len(proposals)


def run_search(
    config: SearchConfig, *, progress: bool = True, max_new_trials: int | None = None
) -> SearchSummary:
    """Run (or continue) ``config``'s search until ``n_trials`` trials have finished.

    Args:
        max_new_trials: stop after this many trials in this call (for tests and slices of
            work); ``None`` runs to the budget.

    Raises:
        UserError: a bad config, database, data folder, or another search running here.
    """
    run_dir = config.run_dir
    with exclusive(run_dir, "search"):
        store = open_store(config)  # refuses a study started with another config
        (run_dir / "config.yaml").write_text(
            yaml.safe_dump(config.to_dict(), sort_keys=True), encoding="utf-8"
        )
        interrupted = store.recover()
        if interrupted:
            log.warning("trial(s) %s were interrupted; they are retried", interrupted)
        search = _Search(config, store)
        summary = summarise(store.records(), config.objectives)
        n_trials = config.n_trials
        if config.strategy == "darts":
            n_trials = min(n_trials, _queue_darts(config, store))
        with _progress(progress) as bar:
            task = bar.add_task(
                "search",
                total=n_trials,
                completed=min(_done(summary, config), n_trials),
                status=_status(summary, config),
            )

            def advance() -> SearchSummary:
                summary = summarise(store.records(), config.objectives)
                bar.update(
                    task,
                    completed=min(_done(summary, config), n_trials),
                    status=_status(summary, config),
                )
                return summary

            if config.strategy == "supernet":
                shown = time.monotonic()

                def now_and_then() -> None:
                    # Subnets take a fraction of a second each: re-reading the whole study
                    # after every one would cost more than scoring them as it grows.
                    nonlocal shown
                    if time.monotonic() - shown >= SUBNET_PROGRESS_SECONDS:
                        advance()
                        shown = time.monotonic()

                run_supernet_search(
                    config,
                    store,
                    search.check,
                    lambda metrics: _objective_values(metrics, config),
                    max_new_trials=max_new_trials,
                    on_trial=now_and_then,
                )
                return advance()
            new = 0
            failures_in_a_row = 0
            while summary.finished < n_trials:
                if max_new_trials is not None and new >= max_new_trials:
                    break
                record = search.run_trial()
                new += 1
                failures_in_a_row = failures_in_a_row + 1 if record.state == "FAIL" else 0
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    raise RuntimeError(
                        f"{failures_in_a_row} trials in a row failed (last: trial "
                        f"{record.number}, {record.reason}); stopping the search. Finished "
                        f"trials are kept in {config.storage_url}"
                    )
                summary = advance()
    return summary
