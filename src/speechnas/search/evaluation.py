"""One process's trials: claim a trial under the study's lock, check it cheaply, train it up
the fidelity ladder and record the outcome.

:class:`TrialEvaluator` is what every search driver (:mod:`speechnas.search.drivers`) and
executor (:mod:`speechnas.search.executor`) runs trials with:

1. :meth:`~TrialEvaluator.next_trial`: the strategy proposes an architecture (Optuna ask),
   unless the budget is met or other processes' running trials fill it;
2. :meth:`~TrialEvaluator.run_trial`: an architecture already finished in this study is not
   trained again (its result is copied; one running elsewhere is waited for); cheap
   measurements (parameters, MACs, memory, measured CPU latency) are taken on the untrained
   model, and a trial breaking a hard constraint is recorded as pruned, untrained; the rest
   train up the fidelity ladder (:mod:`speechnas.search.fidelity`), where the pruner may stop
   them; the result goes to the database (Optuna tell) before the call returns.

A text-to-speech search's trials run in its subclass
:class:`~speechnas.search.tts_trial.TTSTrialEvaluator` (its own data, cheap checks and
ladder; :func:`speechnas.search.task.trial_evaluator` picks).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import optuna
import torch
from optuna.trial import TrialState

from speechnas.arch import ArchSpec
from speechnas.arch.kinds import Spec, as_recogniser
from speechnas.data.manifest import read_manifest
from speechnas.data.usable import tokenizer_texts
from speechnas.errors import UserError, is_environment_error
from speechnas.evaluate.runner import scorable_set
from speechnas.export.int8 import int8_scores
from speechnas.hardware.cheap import cheap_metrics
from speechnas.hardware.chunk_fit import ChunkEstimate
from speechnas.hardware.lut import LatencyTable
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.memo import LatencyMemo
from speechnas.hardware.memory import MemoryModel
from speechnas.hardware.predictor import LatencyPredictor
from speechnas.hardware.targets import TorchCPUTarget
from speechnas.search.config import Constraints, SearchConfig
from speechnas.search.fidelity import dev_manifest, subset_manifests, train_ladder
from speechnas.search.front_stop import FrontStop
from speechnas.search.objectives import INT8_OBJECTIVES, language_metrics, scalarised
from speechnas.search.record import read_attrs, write_attrs
from speechnas.search.store import SearchStore, TakenOver, TrialRecord
from speechnas.search.strategies import suggest_spec
from speechnas.search.summary import PREDICTED_PRUNE
from speechnas.space import SpaceEncoding
from speechnas.space.kinds import Encoding
from speechnas.text import build_tokenizer
from speechnas.timing import Latency
from speechnas.train import TrainingDiverged, load_model

__all__ = ["POLL_SECONDS", "Claim", "NoTrial", "TrialEvaluator", "objective_values"]

log = logging.getLogger(__name__)

#: What a trial's training returns (a ladder's outcome).
_Outcome = TypeVar("_Outcome")

#: How often a search waiting on other processes' trials looks at the study again (seconds).
POLL_SECONDS = 2.0


class NoTrial(enum.Enum):
    """Why :meth:`TrialEvaluator.next_trial` starts no trial."""

    #: The budget is met (or, for queued proposals only, the queue is empty and none runs).
    DONE = "done"
    #: Running trials (of other processes) fill the rest of the budget.
    WAIT = "wait"


#: A started trial and the architecture it evaluates.
Claim = tuple[optuna.Trial, Spec]


def _vocab_size(config: SearchConfig) -> int:
    if config.train.tokenizer == "bpe":
        return config.train.vocab_size
    utts = read_manifest(config.manifests.train_manifest)
    return build_tokenizer("char", tokenizer_texts(utts)).vocab_size


def objective_values(metrics: dict[str, float], config: SearchConfig) -> list[float]:
    """The values a trial reports to the study: its objectives, the first scalarised with
    latency where the config sets a latency target."""
    values = [float(metrics[o]) for o in config.objectives]
    if config.latency_target_ms is not None:
        values[0] = scalarised(
            values[0], metrics["latency_ms"], config.latency_target_ms, config.latency_weight
        )
    return values


def _wants_chunks(config: SearchConfig) -> bool:
    """Whether the search needs each model's compute per chunk (an objective or a limit)."""
    return "chunk_latency_ms" in {*config.objectives, *config.constraints.limits()}


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
    claimed = {"target": config.hardware.target, "threads": config.hardware.threads}
    held = {key: table.target.get(key) for key in claimed}
    wrong = [key for key, value in claimed.items() if value is not None and held[key] != value]
    if wrong:
        raise UserError(
            f"hardware.table {config.hardware.table} was profiled on "
            f"{held['target']} with {held['threads']} thread(s); the config claims "
            + ", ".join(f"hardware.{key}: {claimed[key]}" for key in wrong)
        )
    chunks = _wants_chunks(config) and config.space.streaming != "off"
    if chunks and not table.chunks and config.hardware.latency == "predicted":
        raise UserError(
            f"hardware.table {config.hardware.table} has no chunk-by-chunk records, so it "
            "cannot predict chunk_latency_ms on its target: profile streaming models into it "
            "(speechnas profile --export on the target measures them chunk by chunk, also "
            "those an existing table holds without chunk records)"
        )
    if chunks and not table.chunks:
        log.info(
            "hardware.table %s has no chunk-by-chunk records: chunk_latency_ms is measured "
            "here, not predicted, and nothing is pruned on it before building",
            config.hardware.table,
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


class TrialEvaluator:
    """One process's part of a search (state that lives only as long as the process)."""

    def __init__(self, config: SearchConfig, store: SearchStore) -> None:
        self.config = config
        self.store = store
        self.encoding: Encoding = SpaceEncoding(config.space)
        self.vocab_size = _vocab_size(config)
        # Every set the search scores has something to score: found out now, not after the
        # trials (the test sets are scored by the final stage).
        data = config.manifests
        scorable_set(data.dev_manifest, f"dev set {data.dev_manifest}")
        for name, path in data.test_manifests.items():
            scorable_set(path, f"test set {name} ({path})")
        self.subsets = subset_manifests(config)
        self.dev = dev_manifest(config)
        self.predictor = _predictor(config)
        self.wants_chunks = _wants_chunks(config)
        self.memory = _memory_model(config)
        self.latency_memo = LatencyMemo() if config.reuse_latency else None

    def next_trial(self, n_trials: int, *, queued_only: bool = False) -> Claim | NoTrial:
        """A new trial and its architecture, or why none starts (:class:`NoTrial`).

        Under the study's lock: trials of dead processes are failed and queued again first,
        and no other process starts a trial between the count and the start. The strategy
        proposes after the lock is let go (a proposal writes one parameter per decision, a
        database round trip each: under the lock, they would queue every other worker's
        claim behind it); the trial is running, so it counts against the budget and other
        workers' proposals see it. With ``queued_only``, only queued proposals are started
        (the strategy's sampler proposes nothing of its own).
        """
        store = self.store
        with store.lock.hold():
            trials = store.study.get_trials(deepcopy=False)  # one read serves both
            interrupted = store.recover(trials)
            if interrupted:
                log.warning("trial(s) %s were interrupted; they are retried", interrupted)
                trials = store.study.get_trials(deepcopy=False)  # their retries queued
            states = [t.state for t in trials]
            finished = sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
            running = states.count(TrialState.RUNNING)
            if finished >= n_trials:
                return NoTrial.DONE
            if finished + running >= n_trials:
                return NoTrial.WAIT
            if queued_only and TrialState.WAITING not in states:
                return NoTrial.WAIT if running else NoTrial.DONE
            trial = store.ask()
        try:
            spec = suggest_spec(trial, self.encoding)
            write_attrs(
                trial.set_user_attr,
                spec=spec.to_dict(),
                arch_id=spec.arch_id,
                fidelity=self.config.fidelity.signature,
            )
        except BaseException:
            store.abandon()  # retried: the proposal is a function of the study and number
            raise
        return trial, spec

    def run_trial(self, trial: optuna.Trial, spec: Spec) -> TrialRecord:
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

    def _evaluator(self, trial: optuna.Trial, spec: Spec) -> optuna.trial.FrozenTrial | None:
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
                    write_attrs(trial.set_user_attr, evaluates=True)
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
        result = read_attrs(earlier)
        self._constrain(trial, result.metrics or {})
        write_attrs(
            trial.set_user_attr,
            metrics=result.metrics,
            rung=result.rung,
            curve=result.curve,
            values=result.values,
            reason=result.reason,
            cached_from=earlier.number,
            wall_seconds=0.0,
        )
        log.info(
            "trial %d: same architecture as trial %d, not trained again",
            trial.number,
            earlier.number,
        )
        if earlier.state == TrialState.COMPLETE:
            self.store.tell(trial, earlier.values)
        else:
            self.store.tell(trial, state=TrialState.PRUNED)

    def _constrain(self, trial: optuna.Trial, metrics: dict[str, float]) -> None:
        """Record the trial's slack against each hard limit (Optuna's constraint values,
        ``<= 0`` where a limit holds): TPE, GP and NSGA-II learn from them where the
        infeasible region is, from the trials pruned by a constraint too."""
        for name, slack in self.config.constraints.slack(metrics).items():
            trial.set_constraint(name, slack)

    def _int8(self, spec: ArchSpec, checkpoint: Path, workdir: Path) -> dict[str, float]:
        """The dev scores and latency of the INT8 export of the trained trial, timed with
        the threads ``latency_ms`` is; its latency memoised as ``latency_ms`` is (the same
        architecture on this machine and software reads it back)."""
        config = self.config
        model, tokenizer, _ = load_model(checkpoint)
        n_threads = config.train.threads or torch.get_num_threads()
        scores = int8_scores(
            model,
            tokenizer,
            read_manifest(self.dev),
            workdir,
            num_threads=n_threads,
            latency_s=config.latency_seconds,
            repeats=config.latency_repeats,
        )
        latency_ms = scores.latency_ms
        if self.latency_memo is not None:
            key = self.latency_memo.key(
                f"{spec.arch_id}:int8",
                vocab_size=tokenizer.vocab_size,
                audio_seconds=config.latency_seconds,
                repeats=config.latency_repeats,
                threads=n_threads,
            )
            measured = Latency(latency_ms / 1000, latency_ms / 1000, config.latency_seconds, 1, 1)
            latency_ms = self.latency_memo.measured(key, lambda: measured).median_ms
        return {
            "wer_int8": scores.wer,
            "cer_int8": scores.cer,
            "int8_latency_ms": latency_ms,
            "int8_size_mb": scores.size_mb,
        }

    def _fail(self, trial: optuna.Trial, twin: optuna.Trial, reason: str, start: float) -> None:
        write_attrs(trial.set_user_attr, reason=reason, wall_seconds=time.perf_counter() - start)
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
            chunk = None
            if self.wants_chunks and spec.streaming is None:  # its one chunk: the utterance
                chunk = ChunkEstimate(lat.latency_ms, lat.low_ms, lat.high_ms, exact=False)
            elif self.wants_chunks and self.predictor.table.chunks:
                chunk = self.predictor.table.estimate_chunk(spec, model)
            if chunk is not None:
                predicted["predicted_chunk_latency_ms"] = chunk.ms
                predicted["predicted_chunk_low_ms"] = chunk.low_ms
                predicted["predicted_chunk_high_ms"] = chunk.high_ms
                over += _over(
                    "chunk_latency_ms",
                    chunk.ms,
                    chunk.low_ms,
                    chunk.high_ms,
                    limits.max_chunk_latency_ms,
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

    def check(self, spec: Spec) -> tuple[dict[str, float], str | None]:
        """Cheap measurements of ``spec`` and why it breaks a limit (``None``: within).

        Latency and memory are predicted first; a spec predicted over a limit is not even
        built for measuring (its metrics are the predictions, the reason starts with
        :data:`PREDICTED_PRUNE`). The rest are measured on the untrained model.
        """
        config = self.config
        spec = as_recogniser(spec)
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
            blocks=config.latency_blocks,
            threads=config.train.threads,
            memo=self.latency_memo,
            chunks=self.wants_chunks,
            energy="energy_j" in {*config.objectives, *config.constraints.limits()},
        )
        metrics.update(predicted)
        if config.hardware is not None and config.hardware.latency == "predicted":
            # The target is not this machine: its latency is the table's prediction.
            metrics["measured_latency_ms"] = metrics["latency_ms"]
            metrics["latency_ms"] = predicted["predicted_latency_ms"]
            metrics["rtf"] = metrics["latency_ms"] / 1000.0 / config.latency_seconds
            if "predicted_chunk_latency_ms" in predicted:
                metrics["measured_chunk_latency_ms"] = metrics["chunk_latency_ms"]
                metrics["chunk_latency_ms"] = predicted["predicted_chunk_latency_ms"]
        if self.memory is not None:
            # Measured on the memory table's machine and fitted: replaces the analytic estimate.
            metrics["analytic_memory_mb"] = metrics["memory_mb"]
            metrics["memory_mb"] = predicted["predicted_memory_mb"]
        broken = config.constraints.violations(metrics)
        return metrics, ("constraint: " + "; ".join(broken)) if broken else None

    def _checked_twin(
        self, trial: optuna.Trial, spec: Spec, start: float
    ) -> tuple[dict[str, float], optuna.Trial] | None:
        """The cheap measurements of ``spec`` and the trial's fidelity twin; ``None`` when
        a limit prunes it before training (recorded so here)."""
        store = self.store
        metrics, reason = self.check(spec)
        write_attrs(trial.set_user_attr, metrics=metrics)
        if reason is not None:
            self._constrain(trial, metrics)
            wall = time.perf_counter() - start
            write_attrs(trial.set_user_attr, rung=-1, reason=reason, wall_seconds=wall)
            log.info("trial %d pruned before training: %s", trial.number, reason)
            store.tell(trial, state=TrialState.PRUNED)
            return None
        with store.lock.hold():
            twin = store.ask(store.fidelity)
            write_attrs(trial.set_user_attr, twin=twin.number)
        return metrics, twin

    def _trained(
        self,
        trial: optuna.Trial,
        twin: optuna.Trial,
        spec: Spec,
        start: float,
        train: Callable[[], _Outcome],
    ) -> _Outcome | None:
        """``train()``'s outcome; ``None`` when it diverged or raised, the trial failed (one
        architecture's failure must not end the search). Bad data or config, and a full or
        read-only disk, are raised: every trial would fail the same way."""
        try:
            return train()
        except TrainingDiverged as e:
            self._fail(trial, twin, f"diverged: {e}", start)
            return None
        except UserError:
            raise
        except Exception as e:
            if is_environment_error(e):
                raise
            log.exception("trial %d (%s) failed", trial.number, spec.arch_id)
            self._fail(trial, twin, f"error: {type(e).__name__}: {e}", start)
            return None

    def _evaluate(self, trial: optuna.Trial, spec: Spec, start: float) -> None:
        spec = as_recogniser(spec)
        config, store = self.config, self.store
        checked = self._checked_twin(trial, spec, start)
        if checked is None:
            return
        metrics, twin = checked
        out_dir = config.run_dir / "trials" / f"{trial.number:04d}"
        stop = None
        if config.fidelity.pruner == "predicted_front":
            stop = FrontStop(config, store.records, metrics, lambda m: objective_values(m, config))
        outcome = self._trained(
            trial,
            twin,
            spec,
            start,
            lambda: train_ladder(spec, config, twin, out_dir, self.subsets, self.dev, stop),
        )
        if outcome is None:
            return
        metrics = {
            **metrics,
            "wer": outcome.wer,
            "cer": outcome.cer,
            **language_metrics(outcome.wer, outcome.cer, outcome.languages),
        }
        if not outcome.pruned and any(o in INT8_OBJECTIVES for o in config.objectives):
            try:
                metrics.update(self._int8(spec, outcome.checkpoint, out_dir / "int8"))
            except Exception as e:  # this architecture does not export, or ORT fails on it
                if is_environment_error(e):
                    raise
                self._fail(trial, twin, f"INT8 export: {type(e).__name__}: {e}", start)
                return
        # Constraint values are set once, now that the trained scores are known too; a trial
        # stopped short of the ladder's end is not held to limits on its final scores.
        trained = Constraints.TRAINED
        self._constrain(
            trial,
            {k: v for k, v in metrics.items() if k not in trained} if outcome.pruned else metrics,
        )
        broken = [] if outcome.pruned else config.constraints.violations(metrics)
        if broken:
            # Over a limit on its trained scores: stopped, as a cheap limit stops it earlier.
            outcome.pruned = True
        if stop is not None and stop.predictions:
            # The final scores predicted after the last rung it trained short of the ladder.
            metrics["predicted_wer"] = stop.predictions[-1]["wer"]
            metrics["predicted_cer"] = stop.predictions[-1]["cer"]
        # A trial stopped early has no INT8 scores: its values are not all known.
        known = all(o in metrics for o in config.objectives)
        values = objective_values(metrics, config) if known else None
        write_attrs(
            trial.set_user_attr,
            metrics=metrics,
            rung=outcome.rung,
            curve=outcome.curve,
            checkpoint=str(outcome.checkpoint),
            train_seconds=outcome.train_seconds,
            wall_seconds=time.perf_counter() - start,
            predictions=stop.predictions if stop is not None else None,
        )
        if outcome.pruned:
            reason = f"stopped at rung {outcome.rung}"
            if broken:
                reason = "constraint: " + "; ".join(broken)
            elif stop is not None:
                p = stop.predictions[-1]
                reason += (
                    f": predicted final dev WER {p['wer']:.3f} (error {p['wer_margin']:.3f}), "
                    f"CER {p['cer']:.3f} (error {p['cer_margin']:.3f}), dominated"
                )
            write_attrs(trial.set_user_attr, values=values, reason=reason)
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
