"""A trial's stored attributes, defined once: written through :func:`write_attrs` (or
:func:`new_attrs` for a trial created whole) and read through :func:`read_attrs`.

Every attribute a search keeps on an Optuna trial is a field of :class:`TrialAttrs`; a name
that is not one is a :class:`TypeError` where it is written, so no code can store a key that
no reader knows. Each write also stores the schema version (:data:`SCHEMA_VERSION`, the
``schema`` attribute), which travels with the trial when it is copied to another database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

__all__ = [
    "SCHEMA_VERSION",
    "TrialAttrs",
    "new_attrs",
    "read_attrs",
    "write_attrs",
    "write_stored_attrs",
]

#: The version of the trial attributes' layout (and of a study's: see
#: :class:`~speechnas.search.store.SearchStore`).
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TrialAttrs:
    """Everything a search stores on one trial; ``None``: not (yet) recorded.

    Attributes:
        spec: the architecture (:meth:`~speechnas.arch.ArchSpec.to_dict`).
        arch_id: its id; trials of one id share one evaluation.
        fidelity: the ladder it was evaluated at (its signature).
        estimator: what scored it where not the ladder: ``supernet`` or ``darts`` (proposed
            by DARTS, then trained).
        darts_target_ms: the latency target of the DARTS run that proposed it.
        metrics: every measurement (cheap ones, then dev WER and CER).
        values: the objective values of a trial stopped early (a complete trial's are the
            study's values).
        rung: the highest rung reached (-1: pruned before training).
        curve: dev scores per epoch, as the training loop reports them.
        checkpoint: the trained weights (a path).
        train_seconds: training time of its ladder.
        wall_seconds: the trial's whole time.
        reason: why it was stopped or failed.
        cached_from: the trial whose result it copies (the same architecture).
        retry_of: the interrupted trial it retries.
        interrupted: a killed process left it running; it was failed and is retried.
        lost: its process died while running it (found dead by another, not stopped by an
            exception of its own): retried once; a retry lost again is not retried.
        evaluates: it is the one trial that measures and trains its architecture.
        twin: its trial in the single-objective fidelity study (where the pruner decides).
        predictions: its final dev scores predicted after each rung but the last
            (:mod:`~speechnas.search.front_stop`): ``rung``, ``wer``, ``cer``, ``margin``.
        worker: the process that runs it (:mod:`~speechnas.search.liveness`).
    """

    spec: dict[str, Any] | None = None
    arch_id: str | None = None
    fidelity: str | None = None
    estimator: str | None = None
    darts_target_ms: float | None = None
    metrics: dict[str, float] | None = None
    values: list[float] | None = None
    rung: int | None = None
    curve: list[dict[str, Any]] | None = None
    checkpoint: str | None = None
    train_seconds: float | None = None
    wall_seconds: float | None = None
    reason: str | None = None
    cached_from: int | None = None
    retry_of: int | None = None
    interrupted: bool | None = None
    lost: bool | None = None
    evaluates: bool | None = None
    twin: int | None = None
    predictions: list[dict[str, float]] | None = None
    worker: dict[str, Any] | None = None


_FIELDS = frozenset(f.name for f in dataclasses.fields(TrialAttrs))


def new_attrs(**attrs: Any) -> dict[str, Any]:
    """The user attributes of a trial created whole (``optuna.trial.create_trial``,
    ``enqueue_trial``): ``attrs`` checked against :class:`TrialAttrs`, with the schema."""
    unknown = sorted(set(attrs) - _FIELDS)
    if unknown:
        raise TypeError(f"unknown trial attribute(s) {unknown}; known: {sorted(_FIELDS)}")
    return {**{k: v for k, v in attrs.items() if v is not None}, "schema": SCHEMA_VERSION}


def write_attrs(set_attr: Callable[[str, Any], None], **attrs: Any) -> None:
    """Store ``attrs`` (fields of :class:`TrialAttrs`) with ``set_attr(key, value)``: a
    trial's ``set_user_attr``, or the storage's ``set_trial_user_attr`` bound to a trial."""
    for key, value in new_attrs(**attrs).items():
        set_attr(key, value)


def write_stored_attrs(storage: BaseStorage, trial_id: int, **attrs: Any) -> None:
    """:func:`write_attrs` to trial ``trial_id`` of ``storage`` directly (a trial this
    process holds no :class:`optuna.Trial` of: another process's, or one being failed)."""
    write_attrs(lambda key, value: storage.set_trial_user_attr(trial_id, key, value), **attrs)


def read_attrs(trial: FrozenTrial | Mapping[str, Any]) -> TrialAttrs:
    """A stored trial's attributes (of a frozen trial, or its ``user_attrs``)."""
    stored = trial.user_attrs if isinstance(trial, FrozenTrial) else trial
    return TrialAttrs(**{k: v for k, v in stored.items() if k in _FIELDS})
