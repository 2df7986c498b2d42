"""The results database: two Optuna studies in one SQLAlchemy storage.

``<name>`` holds one trial per proposed architecture, with one value per objective and, as
user attributes, everything a user asks of it later: ``spec`` (JSON), ``arch_id``,
``metrics`` (every measurement), ``fidelity`` (the ladder), ``rung`` (the highest rung
reached), ``curve`` (dev WER per epoch), ``wall_seconds``, ``reason`` (why it was stopped or
failed), ``cached_from``, ``retry_of``. ``<name>.fidelity`` is its single-objective twin: one
trial per trained architecture, reporting dev WER at each rung, which is where Optuna's
pruners decide who is promoted (multi-objective Optuna trials cannot report intermediate
values).

States: ``COMPLETE`` (reached the last rung), ``PRUNED`` (stopped by a hard constraint or by
the pruner at a lower rung; its lower-fidelity values are kept in ``metrics``), ``FAIL``
(an error, or ``interrupted`` by a killed process: retried on resume).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from speechnas.arch import ArchSpec
from speechnas.errors import ConfigMismatch, UserError

__all__ = ["SCHEMA_VERSION", "SearchStore", "TrialRecord"]

SCHEMA_VERSION = 1

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
    }
)


@dataclass(frozen=True)
class TrialRecord:
    """One trial, read back from the database."""

    number: int
    state: str
    spec: ArchSpec | None
    arch_id: str
    values: dict[str, float]
    metrics: dict[str, float]
    rung: int
    reason: str
    wall_seconds: float
    cached_from: int | None
    curve: list[dict[str, Any]]

    @property
    def finished(self) -> bool:
        return self.state in ("COMPLETE", "PRUNED")

    @classmethod
    def from_frozen(cls, t: FrozenTrial, objectives: tuple[str, ...]) -> TrialRecord:
        attrs = t.user_attrs
        spec = ArchSpec.from_dict(attrs["spec"]) if "spec" in attrs else None
        metrics = dict(attrs.get("metrics", {}))
        values = {o: metrics[o] for o in objectives if o in metrics}
        return cls(
            number=t.number,
            state=t.state.name,
            spec=spec,
            arch_id=str(attrs.get("arch_id", "")),
            values=values,
            metrics=metrics,
            rung=int(attrs.get("rung", -1)),
            reason=str(attrs.get("reason", "")),
            wall_seconds=float(attrs.get("wall_seconds", 0.0)),
            cached_from=attrs.get("cached_from"),
            curve=list(attrs.get("curve", [])),
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
        try:
            self.storage = optuna.storages.RDBStorage(url)
        except Exception as e:  # SQLAlchemy raises many kinds for a bad URL or server
            raise UserError(f"cannot open the results database {url!r}: {e}") from e
        if not create and name not in optuna.get_all_study_names(storage=self.storage):
            raise UserError(f"no search named {name!r} in {url}; run `speechnas search` first")
        self.study = optuna.create_study(
            storage=self.storage,
            study_name=name,
            directions=["minimize"] * len(objectives),
            sampler=sampler,
            load_if_exists=True,
        )
        self.fidelity = optuna.create_study(
            storage=self.storage,
            study_name=f"{name}.fidelity",
            direction="minimize",
            sampler=optuna.samplers.RandomSampler(seed=0),
            pruner=pruner or optuna.pruners.NopPruner(),
            load_if_exists=True,
        )
        self._check_config(config)

    def _check_config(self, config: dict[str, Any]) -> None:
        attrs = self.study.user_attrs
        plain = json.loads(json.dumps(config, default=str))
        if "config" not in attrs:
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
        saved = _fixed_part(attrs["config"])
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
            if t.user_attrs.get("arch_id") == arch_id and "cached_from" not in t.user_attrs:
                return t
        return None

    # --- recovery ---------------------------------------------------------------------------

    def recover(self) -> list[int]:
        """Fail the trials a killed process left running and queue each for a retry.

        Call it only when no other process works on the study (the local executor holds
        the run directory's lock). Returns the numbers of the interrupted trials.
        """
        interrupted = []
        study_id = self.storage.get_study_id_from_name(self.name)
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            self.storage.set_trial_user_attr(trial_id, "reason", "interrupted")
            self.storage.set_trial_user_attr(trial_id, "interrupted", True)
            self.study.tell(t.number, state=TrialState.FAIL)
            if t.params:
                self.study.enqueue_trial(
                    t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False
                )
            interrupted.append(t.number)
        for t in self.fidelity.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.fidelity.tell(t.number, state=TrialState.FAIL)
        return interrupted
