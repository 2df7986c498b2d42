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

Several searches may share one study (the same ``--storage`` and name, from other run
folders or machines): they share its budget (a trial starts only while the finished and
running trials leave room, and a search whose budget the others' running trials fill waits
for them), one architecture is evaluated by one trial while another proposing it waits to
copy its result, and a trial is failed as interrupted only when its process is dead
(:mod:`~speechnas.search.liveness`). The weight-sharing strategies (``supernet``, ``darts``)
run in one process per study at a time; another waits for it, then continues its work or
finds the budget met.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time

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
from speechnas.errors import UserError, is_environment_error
from speechnas.evaluate.runner import scorable_set
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
from speechnas.search.darts_strategy import queue_darts
from speechnas.search.fidelity import dev_manifest, make_pruner, subset_manifests, train_ladder
from speechnas.search.objectives import scalarised
from speechnas.search.store import SearchStore, TakenOver, TrialRecord
from speechnas.search.strategies import (
    WEIGHT_SHARING,
    StrategyContext,
    make_sampler,
    suggest_spec,
)
from speechnas.search.summary import PREDICTED_PRUNE, SearchSummary, summarise
from speechnas.search.supernet_strategy import run_supernet_search
from speechnas.space import SpaceEncoding
from speechnas.text import build_tokenizer, normalize
from speechnas.train import TrainingDiverged

__all__ = ["PREDICTED_PRUNE", "SearchSummary", "open_store", "run_search", "summarise"]

log = logging.getLogger(__name__)

#: A search stops (keeping what finished) after this many failed trials in a row: something
#: is wrong beyond one architecture.
MAX_FAILURES_IN_A_ROW = 5

#: How often a search waiting on other processes' trials looks at the study again (seconds).
POLL_SECONDS = 2.0


class _NoTrial(enum.Enum):
    """Why :meth:`_Search.next_trial` starts no trial."""

    #: The budget is met (or, for queued proposals only, the queue is empty and none runs).
    DONE = "done"
    #: Running trials (of other processes) fill the rest of the budget.
    WAIT = "wait"


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
        # Every set the search scores has something to score: found out now, not after the
        # trials (the test sets are scored by the final stage).
        data = config.data
        scorable_set(data.dev_manifest, f"dev set {data.dev_manifest}")
        for name, path in data.test_manifests.items():
            scorable_set(path, f"test set {name} ({path})")
        self.subsets = subset_manifests(config)
        self.dev = dev_manifest(config)
        self.predictor = _predictor(config)
        self.memory = _memory_model(config)
        self.latency_memo = LatencyMemo() if config.reuse_latency else None
        #: Start queued proposals only (a strategy whose proposals are queued: darts).
        self.queued_only = False

    def next_trial(self, n_trials: int) -> tuple[optuna.Trial, ArchSpec] | _NoTrial:
        """A new trial and its architecture, or why none starts (:class:`_NoTrial`).

        Under the study's lock: trials of dead processes are failed and queued again first,
        and no other process starts a trial between the count and the start. With
        :attr:`queued_only`, only queued proposals are started (the strategy's sampler
        proposes nothing of its own).
        """
        store = self.store
        with store.lock.hold():
            interrupted = store.recover()
            if interrupted:
                log.warning("trial(s) %s were interrupted; they are retried", interrupted)
            states = [t.state for t in store.study.get_trials(deepcopy=False)]
            finished = sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
            running = states.count(TrialState.RUNNING)
            if finished >= n_trials:
                return _NoTrial.DONE
            if finished + running >= n_trials:
                return _NoTrial.WAIT
            if self.queued_only and TrialState.WAITING not in states:
                return _NoTrial.WAIT if running else _NoTrial.DONE
            trial = store.ask()
            spec = suggest_spec(trial, self.encoding)
            trial.set_user_attr("spec", spec.to_dict())
            trial.set_user_attr("arch_id", spec.arch_id)
            trial.set_user_attr("fidelity", self.config.fidelity.signature)
        return trial, spec

    def run_trial(self, trial: optuna.Trial, spec: ArchSpec) -> TrialRecord:
        """Evaluate ``trial`` (its architecture ``spec``), or copy the result of the trial
        that evaluated the same architecture, waiting for it if it still runs."""
        start = time.perf_counter()
        log.info("trial %d: %s (%s)", trial.number, spec.summary(), spec.arch_id)
        try:
            earlier = self._evaluator(trial, spec)
            if earlier is not None:
                self._copy(trial, earlier)
            else:
                self._evaluate(trial, spec, start)
        except TakenOver as e:
            log.warning("%s", e)
            self.store.abandon()  # the rest of the trial (its twin, or itself) is retried
        frozen = self.store.study.get_trials(deepcopy=False)[trial.number]
        return TrialRecord.from_frozen(frozen, self.config.objectives)

    def _evaluator(self, trial: optuna.Trial, spec: ArchSpec) -> optuna.trial.FrozenTrial | None:
        """The finished trial to copy for ``spec``, or ``None`` once ``trial`` is the one to
        evaluate it: while another process's live trial evaluates ``spec``, wait for it."""
        store, waiting = self.store, None
        while True:
            with store.lock.hold():
                interrupted = store.recover()
                if interrupted:
                    log.warning("trial(s) %s were interrupted; they are retried", interrupted)
                earlier = store.cached(spec.arch_id)
                if earlier is not None:
                    return earlier
                other = store.evaluator(spec.arch_id, besides=trial.number)
                if other is None:
                    trial.set_user_attr("evaluates", True)
                    return None
            if waiting != other.number:
                waiting = other.number
                log.info(
                    "trial %d: the same architecture as trial %d, which another process is "
                    "evaluating; waiting for its result",
                    trial.number,
                    other.number,
                )
            time.sleep(POLL_SECONDS)

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
            self.store.tell(trial, earlier.values)
        else:
            self.store.tell(trial, state=TrialState.PRUNED)

    def _fail(self, trial: optuna.Trial, twin: optuna.Trial, reason: str, start: float) -> None:
        trial.set_user_attr("reason", reason)
        trial.set_user_attr("wall_seconds", time.perf_counter() - start)
        self.store.tell(twin, state=TrialState.FAIL, study=self.store.fidelity)
        self.store.tell(trial, state=TrialState.FAIL)
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
        config, store = self.config, self.store
        metrics, reason = self.check(spec)
        trial.set_user_attr("metrics", metrics)
        if reason is not None:
            trial.set_user_attr("rung", -1)
            trial.set_user_attr("reason", reason)
            trial.set_user_attr("wall_seconds", time.perf_counter() - start)
            log.info("trial %d pruned before training: %s", trial.number, reason)
            store.tell(trial, state=TrialState.PRUNED)
            return
        with store.lock.hold():
            twin = store.ask(store.fidelity)
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
            if is_environment_error(e):
                raise  # a full or read-only disk: every trial would fail the same way
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
            store.tell(twin, state=TrialState.PRUNED, study=store.fidelity)
            store.tell(trial, state=TrialState.PRUNED)
        else:
            store.tell(twin, outcome.score(config.fidelity.metric), study=store.fidelity)
            store.tell(trial, values)
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


class _Display:
    """The progress bar of a search: trials done of the budget, best value, front size."""

    def __init__(self, bar: Progress, store: SearchStore, config: SearchConfig, total: int):
        self.bar, self.store, self.config, self.total = bar, store, config, total
        self.task = bar.add_task("search", total=total, completed=0, status="")

    def update(self, note: str = "") -> SearchSummary:
        summary = summarise(self.store.records(), self.config.objectives)
        summary.budget = self.total
        summary.progress = _done(summary, self.config)
        status = _status(summary, self.config) + (f" | {note}" if note else "")
        done = min(_done(summary, self.config), self.total)
        self.bar.update(self.task, completed=done, status=status)
        return summary


def _run_supernet(search: _Search, display: _Display, max_new_trials: int | None) -> SearchSummary:
    config = search.config
    if display.update().complete >= config.n_trials:
        return display.update()  # done (here, or by a search in another run folder)
    shown = time.monotonic()

    def now_and_then() -> None:
        # Subnets take a fraction of a second each: re-reading the whole study after every
        # one would cost more than scoring them as it grows.
        nonlocal shown
        if time.monotonic() - shown >= SUBNET_PROGRESS_SECONDS:
            display.update()
            shown = time.monotonic()

    run_supernet_search(
        config,
        search.store,
        search.check,
        lambda metrics: _objective_values(metrics, config),
        max_new_trials=max_new_trials,
        on_trial=now_and_then,
    )
    return display.update()


def _run_trials(search: _Search, display: _Display, max_new_trials: int | None) -> SearchSummary:
    """Start and evaluate trials until the budget (``display.total``) is met."""
    config = search.config
    new = 0
    failures_in_a_row = 0
    while max_new_trials is None or new < max_new_trials:
        claim = search.next_trial(display.total)
        if claim is _NoTrial.DONE:
            break
        if claim is _NoTrial.WAIT:  # the other processes' running trials fill the budget
            display.update("waiting for trials of other processes")
            time.sleep(POLL_SECONDS)
            continue
        record = search.run_trial(*claim)
        new += 1
        failures_in_a_row = failures_in_a_row + 1 if record.state == "FAIL" else 0
        if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise RuntimeError(
                f"{failures_in_a_row} trials in a row failed (last: trial "
                f"{record.number}, {record.reason}); stopping the search. Finished "
                f"trials are kept in {config.storage_url}"
            )
        display.update()
    return display.update()


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
        try:
            (run_dir / "config.yaml").write_text(
                yaml.safe_dump(config.to_dict(), sort_keys=True), encoding="utf-8"
            )
            whole_run: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if config.strategy in WEIGHT_SHARING:
                whole_run = store.lock.hold(
                    waiting=f"another process runs strategy {config.strategy} on study "
                    f"{config.name!r}; waiting for it to finish (weight-sharing strategies "
                    "run in one process per study at a time)"
                )
            with whole_run:
                return _run(config, store, progress, max_new_trials)
        finally:
            store.close()


def _run(
    config: SearchConfig, store: SearchStore, progress: bool, max_new_trials: int | None
) -> SearchSummary:
    interrupted = store.recover()
    if interrupted:
        log.warning("trial(s) %s were interrupted; they are retried", interrupted)
    search = _Search(config, store)
    n_trials = config.n_trials
    if config.strategy == "darts":
        n_trials = queue_darts(config, store)
        search.queued_only = True
    with _progress(progress) as bar:
        display = _Display(bar, store, config, n_trials)
        display.update()
        if config.strategy == "supernet":
            return _run_supernet(search, display, max_new_trials)
        return _run_trials(search, display, max_new_trials)
