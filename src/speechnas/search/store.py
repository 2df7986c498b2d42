"""The results database: two Optuna studies in one SQLAlchemy storage.

``<name>`` holds one trial per proposed architecture, with one value per objective and, as
user attributes, everything a user asks of it later (:class:`~speechnas.search.record.
TrialAttrs`: the spec, every metric, the ladder, the rung reached, the dev curve, why it was
stopped or failed, ...), written and read only through :mod:`speechnas.search.record`. The
metrics of finished trials are also rows of a plain SQL table and view
(:mod:`~speechnas.search.sql_table`). ``<name>.fidelity`` is its single-objective twin: one
trial per trained architecture, reporting dev WER at each rung, which is where Optuna's
pruners decide who is promoted (multi-objective Optuna trials cannot report intermediate
values).

States: ``COMPLETE`` (reached the last rung), ``PRUNED`` (stopped by a hard constraint or by
the pruner at a lower rung; its lower-fidelity values are kept in ``metrics``), ``FAIL``
(an error, or ``interrupted``: by an exception of its process, or ``lost`` with its process;
retried, a lost trial once: a retry whose process dies too is not retried again).

Several processes may work on one study at once (several ``speechnas search`` runs given the
same ``--storage``). Each trial records the process that runs it (``worker``, see
:mod:`~speechnas.search.liveness`), and every change of a trial's state happens under the
study's lock (:mod:`~speechnas.search.study_lock`), so that a process fails only trials whose
process is dead and two processes never start more trials than the budget.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from speechnas.arch import ArchSpec
from speechnas.arch.kinds import spec_from_dict
from speechnas.arch.tts import TTSSpec
from speechnas.errors import ConfigMismatch, UserError
from speechnas.search import sql_table
from speechnas.search.liveness import Heartbeat, Worker, is_dead
from speechnas.search.record import SCHEMA_VERSION, new_attrs, read_attrs, write_stored_attrs
from speechnas.search.study_lock import StudyLock

__all__ = ["SCHEMA_VERSION", "SearchStore", "TakenOver", "TrialRecord"]

log = logging.getLogger(__name__)


#: Config keys that may change when a study is resumed (budgets and presentation).
RESUMABLE_KEYS = frozenset(
    {
        "n_trials",
        "final",
        "storage",
        "out_root",
        "data",
        "train.device",
        "train.threads",
        "reuse_latency",
        "parallel",
    }
)


#: Settings a study saved before they existed, at what the study did then (a study timed
#: latency as one median before ``latency_blocks``).
LEGACY_DEFAULTS: dict[str, Any] = {"latency_blocks": 1}


@dataclass(frozen=True)
class TrialRecord:
    """One trial, read back from the database."""

    number: int
    state: str
    spec: ArchSpec | TTSSpec | None
    arch_id: str
    values: dict[str, float]
    metrics: dict[str, float]
    rung: int
    reason: str
    wall_seconds: float
    cached_from: int | None
    curve: list[dict[str, Any]]
    checkpoint: str | None = None
    train_seconds: float = 0.0
    predictions: tuple[dict[str, float], ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in ("COMPLETE", "PRUNED")

    @classmethod
    def from_frozen(cls, t: FrozenTrial, objectives: tuple[str, ...]) -> TrialRecord:
        attrs = read_attrs(t)
        metrics = dict(attrs.metrics or {})
        return cls(
            number=t.number,
            state=t.state.name,
            spec=None if attrs.spec is None else spec_from_dict(attrs.spec),
            arch_id=attrs.arch_id or "",
            values={o: metrics[o] for o in objectives if o in metrics},
            metrics=metrics,
            rung=-1 if attrs.rung is None else attrs.rung,
            reason=attrs.reason or "",
            wall_seconds=attrs.wall_seconds or 0.0,
            cached_from=attrs.cached_from,
            curve=list(attrs.curve or []),
            checkpoint=attrs.checkpoint,
            train_seconds=attrs.train_seconds or 0.0,
            predictions=tuple(attrs.predictions or ()),
        )


def _fixed_part(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the :data:`RESUMABLE_KEYS` (``section.key`` names a nested one)."""
    out = {k: v for k, v in config.items() if k not in RESUMABLE_KEYS}
    for dotted in RESUMABLE_KEYS:
        section, _, key = dotted.partition(".")
        if key and isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k != key}
    return out


class SearchStore:
    """Opens (or creates) a search's studies and reads and writes its trials.

    Args:
        url: SQLAlchemy URL of the storage.
        name: study name.
        objectives: objective names, all minimised.
        config: the search config as a plain dict; a study created by another config (other
            than in :data:`RESUMABLE_KEYS`) refuses to open.
        sampler, pruner: for the main study and the fidelity twin.
        create: start the study when it does not exist (else a :class:`UserError`).
    """

    def __init__(
        self,
        url: str,
        name: str,
        objectives: tuple[str, ...],
        config: dict[str, Any],
        *,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
        create: bool = True,
    ) -> None:
        self.url = url
        self.name = name
        self.objectives = objectives
        self.worker = Worker.here()
        self.lock = StudyLock(url, name)
        #: The running trials this process evaluates: storage trial id -> of the main study.
        self._owned: dict[int, bool] = {}
        # Two searches starting at once on a new database create its tables and the study
        # (with its config) once: under the lock. Reading only takes no lock (it would write
        # the lock file; a run folder that cannot be written to is read all the same).
        with self.lock.hold() if create else contextlib.nullcontext():
            try:
                self.storage = optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
            except Exception as e:  # SQLAlchemy raises many kinds for a bad URL or server
                raise UserError(f"cannot open the results database {url!r}: {e}") from e
            self.heartbeat = Heartbeat(self.storage, url, self.worker)
            try:
                if create:
                    self.study, self.fidelity = self._create(sampler, pruner)
                else:
                    self.study, self.fidelity = self._load()
                self._check_config(config, write=create)
                if create:
                    self._tables()
            except optuna.exceptions.StorageInternalError as e:
                # SQLAlchemy's message names the cause: a read-only or full disk, a lost server.
                raise UserError(f"the results database {url} cannot be written: {e}") from e

    def _load(self) -> tuple[optuna.Study, optuna.Study]:
        if self.name not in optuna.get_all_study_names(storage=self.storage):
            raise UserError(
                f"no search named {self.name!r} in {self.url}; run `speechnas search` first"
            )
        study = optuna.load_study(storage=self.storage, study_name=self.name)
        fidelity = optuna.load_study(storage=self.storage, study_name=f"{self.name}.fidelity")
        return study, fidelity

    def _create(
        self,
        sampler: optuna.samplers.BaseSampler | None,
        pruner: optuna.pruners.BasePruner | None,
    ) -> tuple[optuna.Study, optuna.Study]:
        study = optuna.create_study(
            storage=self.storage,
            study_name=self.name,
            directions=["minimize"] * len(self.objectives),
            sampler=sampler,
            load_if_exists=True,
        )
        fidelity = optuna.create_study(
            storage=self.storage,
            study_name=f"{self.name}.fidelity",
            direction="minimize",
            sampler=optuna.samplers.RandomSampler(seed=0),
            pruner=pruner or optuna.pruners.NopPruner(),
            load_if_exists=True,
        )
        return study, fidelity

    def _check_config(self, config: dict[str, Any], *, write: bool) -> None:
        attrs = self.study.user_attrs
        plain = json.loads(json.dumps(config, default=str))
        if "config" not in attrs:
            if not write:
                return
            self.study.set_user_attr("config", plain)
            self.study.set_user_attr("objectives", list(self.objectives))
            self.study.set_user_attr("schema_version", SCHEMA_VERSION)
            return
        if attrs.get("schema_version") != SCHEMA_VERSION:
            raise ConfigMismatch(
                f"study {self.name!r} in {self.url} was written by schema version "
                f"{attrs.get('schema_version')}, this speechnas writes {SCHEMA_VERSION}",
                ["schema_version"],
            )
        legacy = {k: v for k, v in LEGACY_DEFAULTS.items() if k in plain}
        saved = _fixed_part({**legacy, **attrs["config"]})
        plain = _fixed_part(plain)
        changed = sorted(k for k in set(saved) | set(plain) if saved.get(k) != plain.get(k))
        if changed:
            raise ConfigMismatch(
                f"study {self.name!r} in {self.url} was started with another config "
                f"(differs in {changed}); resume it with the same config or choose another "
                "name. Only these may change: " + ", ".join(sorted(RESUMABLE_KEYS)),
                changed,
            )

    # --- reading ---------------------------------------------------------------------------

    def records(self) -> list[TrialRecord]:
        return [
            TrialRecord.from_frozen(t, self.objectives)
            for t in self.study.get_trials(deepcopy=False)
        ]

    def cached(self, arch_id: str) -> FrozenTrial | None:
        """The first finished trial of ``arch_id`` (same study: same ladder and data)."""
        for t in self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
        ):
            attrs = read_attrs(t)
            if attrs.arch_id == arch_id and attrs.cached_from is None:
                return t
        return None

    def running(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))

    def evaluator(self, arch_id: str, besides: int) -> FrozenTrial | None:
        """The running trial (other than ``besides``) that evaluates ``arch_id``, if any: the
        one trial that measures and trains it while the others of that architecture wait."""
        for t in self.running():
            attrs = read_attrs(t)
            if t.number != besides and attrs.arch_id == arch_id and attrs.evaluates:
                return t
        return None

    # --- writing -----------------------------------------------------------------------------

    def ask(self, study: optuna.Study | None = None) -> optuna.Trial:
        """A new trial of ``study`` (default the main one), recorded as this process's.

        Call it under :attr:`lock`: a trial is never seen running without its worker.
        """
        study = study or self.study
        trial = study.ask()
        trial_id = self.trial_id(study, trial.number)
        self.heartbeat.add(trial_id)
        self._owned[trial_id] = study is self.study
        return trial

    def trial_id(self, study: optuna.Study, number: int) -> int:
        """The storage's id of ``study``'s trial ``number``."""
        study_id = self.storage.get_study_id_from_name(study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)

    def tell(
        self,
        trial: optuna.Trial,
        values: Sequence[float] | float | None = None,
        *,
        state: TrialState | None = None,
        study: optuna.Study | None = None,
    ) -> None:
        """Finish one of this process's trials (of ``study``, default the main one).

        Raises:
            TakenOver: another process failed it as dead meanwhile (possible only for a
                process whose heartbeat stopped for a whole grace period).
        """
        study = study or self.study
        trial_id = self.trial_id(study, trial.number)
        with self.lock.hold():
            current = self.storage.get_trial(trial_id).state
            if current != TrialState.RUNNING:
                self._let_go(trial_id)
                raise TakenOver(trial.number, current)
            study.tell(trial, values, state=state)
            self._let_go(trial_id)  # beats until told: never a finished trial without one
            if study is self.study:
                self._write_row(self.storage.get_trial(trial_id))

    def add_finished(self, trial: FrozenTrial) -> int:
        """Add a trial created whole (``optuna.trial.create_trial``, finished) to the main
        study; returns its number."""
        trial_id = self.storage.create_new_trial(self._study_id(), template_trial=trial)
        frozen = self.storage.get_trial(trial_id)
        self._write_row(frozen)
        return frozen.number

    def _tables(self) -> None:
        """The plain-SQL results (:mod:`~speechnas.search.sql_table`): created where missing,
        with rows for the finished trials of an older database."""
        engine = self.storage.engine
        sql_table.create_tables(engine)
        present = sql_table.numbers(engine, self.name)
        for t in self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
        ):
            if t.number not in present:
                self._write_row(t)

    def _write_row(self, trial: FrozenTrial) -> None:
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            attrs = read_attrs(trial)
            sql_table.write_trial(
                self.storage.engine,
                self.name,
                trial.number,
                trial.state.name,
                attrs.arch_id,
                attrs.metrics or {},
            )

    def abandon(self) -> list[int]:
        """Fail the trials this process still runs as interrupted (an exception ended their
        evaluation, or another process took part of one over); the next recovery queues
        each for a retry. Returns the numbers of the main study's trials failed."""
        failed = []
        with self.lock.hold():
            for trial_id, main in list(self._owned.items()):
                if self._interrupt(trial_id, main=main):
                    if main:
                        failed.append(self.storage.get_trial(trial_id).number)
                self._let_go(trial_id)
        return failed

    def claim_final_stage(self, run_dir: Path) -> Path | None:
        """Claim the study's final stage for the search in ``run_dir``.

        Searches sharing a study retrain its front once: the first to get here does, the
        others point to it. A claim of a dead process, unfinished, passes to the next.

        Returns:
            ``None`` when this search runs it (it is unclaimed, or this run folder's); else
            the run folder of the search that runs or ran it.
        """
        here = {"run_dir": str(run_dir.resolve()), "machine": self.worker.machine}
        with self.lock.hold():
            claim = self.study.user_attrs.get(FINAL_STAGE)
            if isinstance(claim, dict) and {k: claim.get(k) for k in here} != here:
                if claim.get("done") or not is_dead(claim.get("worker"), self.worker):
                    return Path(str(claim["run_dir"]))
            self.heartbeat.claim(self._study_id(), FINAL_STAGE, {**here, "done": False})
        return None

    def final_stage_done(self, run_dir: Path) -> None:
        """Record that the final stage of :meth:`claim_final_stage` ended."""
        self.heartbeat.unclaim(self._study_id(), FINAL_STAGE)
        here = {"run_dir": str(run_dir.resolve()), "machine": self.worker.machine}
        self.study.set_user_attr(FINAL_STAGE, {**here, "done": True})

    def _study_id(self) -> int:
        return self.storage.get_study_id_from_name(self.name)

    def _let_go(self, trial_id: int) -> None:
        self._owned.pop(trial_id, None)
        self.heartbeat.discard(trial_id)

    def close(self) -> None:
        """Fail what this process still runs (:meth:`abandon`), stop the heartbeat and let go
        of the lock's resources."""
        try:
            if self._owned:
                self.abandon()
        finally:
            self.heartbeat.close()
            self.lock.close()

    # --- recovery ---------------------------------------------------------------------------

    def recover(self, trials: Sequence[FrozenTrial] | None = None) -> list[int]:
        """Fail the trials whose process is dead and queue each for a retry.

        A trial running in a live process, here or on another machine, is left alone (see
        :mod:`~speechnas.search.liveness`). Failing goes around the sampler (nothing of a dead
        process's trial is told to it). Re-running it after a crash mid-way completes the
        work: an interrupted trial whose retry is missing gets one.

        Args:
            trials: the main study's trials, read under the lock held now: each read loads
                every running trial's parameters, so a claim reads them once.

        Returns the numbers of the trials failed now.
        """
        with self.lock.hold():
            interrupted = []
            if trials is None:
                trials = self.study.get_trials(deepcopy=False)
            for t in trials:
                if t.state != TrialState.RUNNING:
                    continue
                trial_id = self.trial_id(self.study, t.number)
                if self._dead(t, trial_id) and self._interrupt(trial_id, main=True, lost=True):
                    interrupted.append(t.number)
            for t in self.fidelity.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                trial_id = self.trial_id(self.fidelity, t.number)
                if self._dead(t, trial_id):
                    self._interrupt(trial_id, main=False)
            self._queue_retries(None if interrupted else trials)
        return interrupted

    def _interrupt(self, trial_id: int, *, main: bool, lost: bool = False) -> bool:
        """Fail a running trial as interrupted (a main-study trial is then retried); whether
        it was still running. ``lost``: its process died. Call it under :attr:`lock`."""
        trial = self.storage.get_trial(trial_id)
        if trial.state != TrialState.RUNNING:
            return False
        if main:
            reason = "interrupted: its process died" if lost else "interrupted"
            retry_of = read_attrs(trial).retry_of
            if lost and self._lost_before(retry_of, self.study.get_trials(deepcopy=False)):
                reason += f", as on its first try (trial {retry_of}): {NOT_RETRIED}"
            write_stored_attrs(
                self.storage, trial_id, reason=reason, interrupted=True, lost=lost or None
            )
        self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        return True

    @staticmethod
    def _lost_before(number: int | None, trials: Sequence[FrozenTrial]) -> bool:
        """Whether trial ``number`` (the one a retry retries) lost its process too."""
        return number is not None and bool(read_attrs(trials[number]).lost)

    def _dead(self, trial: FrozenTrial, trial_id: int) -> bool:
        held = self.heartbeat.holds(trial_id)
        return is_dead(read_attrs(trial).worker, self.worker, held=held)

    def _queue_retries(self, trials: Sequence[FrozenTrial] | None = None) -> None:
        """Queue a retry of every interrupted trial that has none, except a lost one that was
        itself the retry of a lost one: a trial whose process died twice is not retried
        again (it may be what kills them, e.g. by running out of memory). ``trials``: the
        study's trials as they are now (default: read them)."""
        if trials is None:
            trials = self.study.get_trials(deepcopy=False)
        retried = {read_attrs(t).retry_of for t in trials}
        for t in trials:
            stored = read_attrs(t)
            if t.state != TrialState.FAIL or not stored.interrupted:
                continue
            if stored.lost and self._lost_before(stored.retry_of, trials):
                continue
            # A queued proposal killed before its parameters were suggested has them only
            # as the queue's fixed parameters.
            # (Optuna's queue keeps a queued trial's parameters under this key.)
            params = {**t.system_attrs.get("fixed_params", {}), **t.params}
            if params and t.number not in retried:
                attrs = new_attrs(
                    **{k: getattr(stored, k) for k in _PROPOSAL_ATTRS}, retry_of=t.number
                )
                # The retry is the same proposal: it keeps what the sampler recorded of it
                # (NSGA-II's generation, say), as Optuna's own queue would not.
                self.study.add_trial(
                    optuna.trial.create_trial(
                        state=TrialState.WAITING,
                        system_attrs={**t.system_attrs, "fixed_params": params},
                        user_attrs=attrs,
                    )
                )


#: How the reason of a trial that is not retried again ends.
NOT_RETRIED = "not retried again"

#: The study's user attribute naming the search that runs (or ran) the final stage.
FINAL_STAGE = "final_stage"

#: What a retry keeps of its interrupted trial besides the parameters: who proposed it.
_PROPOSAL_ATTRS = ("arch_id", "estimator", "darts_target_ms")


class TakenOver(Exception):
    """A trial this process was running was failed as dead by another process."""

    def __init__(self, number: int, state: TrialState) -> None:
        super().__init__(
            f"trial {number} was marked {state.name} by another process while this one ran "
            "it (its heartbeat was older than the grace period); its result is dropped"
        )
        self.number = number


def _engine_kwargs(url: str) -> dict[str, Any]:
    """SQLite makes a writer wait for another's transaction only this long (seconds) before
    it fails: several searches on one file, each writing now and then, need more than the
    default 5 s on a busy machine."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 300}}
    return {}
