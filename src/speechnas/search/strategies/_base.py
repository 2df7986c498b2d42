"""The strategy interface: an Optuna sampler over a space's encoding
(:class:`~speechnas.space.kinds.Encoding`).

Every strategy, ours or Optuna's, is an ``optuna.samplers.BaseSampler`` that proposes the
indices of an encoding's decisions; the search reads them back with :func:`suggest_spec`,
which always yields an architecture of the space (a recogniser of a
:class:`~speechnas.space.SpaceEncoding`, or a text-to-speech model of a
:class:`~speechnas.space.TTSEncoding`). One interface
means one search loop, one results database and one contract suite
(:mod:`speechnas.testing.strategies`) for all of them.

The contract, for a sampler ``make_sampler(name, context)`` returns:

- every trial's parameters decode to an architecture of the space;
- the same seed and the same finished trials give the same proposal for trial number ``n``:
  a strategy keeps no hidden state beyond its seed and the study, so the study *is* its saved
  state, and a search resumed from its database proposes what the uninterrupted one would;
- it works with one or several objectives (``directions``).

Our own strategies derive from :class:`Strategy` and implement :meth:`Strategy.propose`,
which returns a :class:`~speechnas.arch.kinds.Spec`; Optuna's are wrapped in
:class:`Reseeded` so that they meet the same contract.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from speechnas.arch import ArchSpec
from speechnas.arch.kinds import Spec
from speechnas.search.pareto import scalar_fitness
from speechnas.search.record import read_attrs
from speechnas.space.kinds import Encoding

__all__ = [
    "History",
    "Reseeded",
    "Strategy",
    "StrategyContext",
    "derive_seed",
    "distributions",
    "history",
    "params_to_indices",
    "indices_to_params",
    "proposal_index",
    "suggest_spec",
]


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy is built from.

    Attributes:
        encoding: The space, as decisions.
        seed: Seeds every random choice.
        directions: ``minimize``/``maximize`` per objective, in the study's order.
        warm_start: Known-good architectures (transfer); projected into the space.
        options: Strategy-specific settings (e.g. ``population``); unknown ones are errors.
    """

    encoding: Encoding
    seed: int = 0
    directions: tuple[str, ...] = ("minimize",)
    warm_start: tuple[ArchSpec, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)


def derive_seed(seed: int, trial_number: int) -> int:
    """A 32-bit seed for one trial, the same whenever ``(seed, trial_number)`` is."""
    return int(np.random.SeedSequence([seed, trial_number]).generate_state(1)[0])


def proposal_index(study: optuna.Study, trial: FrozenTrial) -> int:
    """The trial's number, not counting trials interrupted by a killed process before it.

    A resumed search retries an interrupted trial under a new number; keying proposals by
    this index instead of the raw number keeps the sequence of proposals the same as that of
    the uninterrupted search.
    """
    skipped = sum(
        1
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if t.number < trial.number and read_attrs(t).interrupted
    )
    return trial.number - skipped


def distributions(encoding: Encoding) -> dict[str, BaseDistribution]:
    """Optuna distributions of the decisions: ordered ones as integer indices, the others as
    categories named by their values (so the database shows ``encoder: conformer``)."""
    out: dict[str, BaseDistribution] = {}
    for d in encoding.decisions:
        if d.ordered:
            out[d.name] = IntDistribution(0, len(d.choices) - 1)
        else:
            out[d.name] = CategoricalDistribution(d.choices)
    return out


def indices_to_params(encoding: Encoding, indices: Mapping[str, int]) -> dict[str, Any]:
    return {
        d.name: indices[d.name] if d.ordered else d.choices[indices[d.name]]
        for d in encoding.decisions
    }


def params_to_indices(encoding: Encoding, params: Mapping[str, Any]) -> dict[str, int]:
    return {
        d.name: int(params[d.name]) if d.ordered else d.choices.index(params[d.name])
        for d in encoding.decisions
    }


def suggest_spec(trial: optuna.trial.BaseTrial, encoding: Encoding) -> Spec:
    """Ask ``trial`` for every decision and decode them: the trial's architecture."""
    params: dict[str, Any] = {}
    for d in encoding.decisions:
        if d.ordered:
            params[d.name] = trial.suggest_int(d.name, 0, len(d.choices) - 1)
        else:
            params[d.name] = trial.suggest_categorical(d.name, d.choices)
    return encoding.decode(params_to_indices(encoding, params))


@dataclass(frozen=True)
class History:
    """The finished trials a strategy learns from, in trial-number order.

    Attributes:
        indices: Decision indices of each trial.
        values: Objective values, each turned to minimisation.
        fitness: One score per trial, lower is better (:func:`scalar_fitness`).
        numbers: Trial numbers.
        pending: Architecture ids of the trials numbered below that still run (other
            workers'): a strategy may avoid proposing them again. Empty with one worker.
    """

    indices: tuple[dict[str, int], ...]
    values: tuple[tuple[float, ...], ...]
    fitness: tuple[float, ...]
    numbers: tuple[int, ...]
    pending: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.numbers)


def history(study: optuna.Study, encoding: Encoding, before: int | None = None) -> History:
    """Finished trials numbered below ``before`` whose parameters are all decisions.

    Complete trials count with their values; pruned ones count when they carry the values
    measured at the fidelity they reached (user attribute ``values``), which the search
    records for trials stopped by the pruner.
    """
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in study.directions]
    names = {d.name for d in encoding.decisions}
    rows: list[tuple[int, dict[str, int], tuple[float, ...]]] = []
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    for t in study.get_trials(deepcopy=False, states=states):
        if before is not None and t.number >= before:
            continue
        values = t.values if t.state == TrialState.COMPLETE else read_attrs(t).values
        if not names <= set(t.params) or values is None:
            continue
        vals = tuple(s * float(v) for s, v in zip(signs, values, strict=True))
        rows.append((t.number, params_to_indices(encoding, t.params), vals))
    rows.sort(key=lambda r: r[0])
    values = tuple(r[2] for r in rows)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    pending = {read_attrs(t).arch_id for t in running if before is None or t.number < before}
    return History(
        indices=tuple(r[1] for r in rows),
        values=values,
        fitness=tuple(scalar_fitness(values)),
        numbers=tuple(r[0] for r in rows),
        pending=frozenset(a for a in pending if a),
    )


class Strategy(optuna.samplers.BaseSampler, abc.ABC):
    """Base of our strategies: propose an architecture from the finished trials.

    Subclasses implement :meth:`propose`; the Optuna plumbing (a relative search space of all
    decisions, per-trial seeding) lives here. ``propose`` sees only trials numbered below the
    one being proposed, so its answer does not depend on how many workers run.
    """

    def __init__(self, context: StrategyContext) -> None:
        self.context = context
        self.encoding = context.encoding

    @abc.abstractmethod
    def propose(self, past: History, trial_number: int, rng: np.random.Generator) -> Spec:
        """The architecture for trial ``trial_number``.

        Args:
            past: Finished trials numbered below ``trial_number``.
            trial_number: The trial's number less the interrupted trials before it
                (:func:`proposal_index`).
            rng: Seeded from the strategy seed and ``trial_number`` only.
        """

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return distributions(self.encoding)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        index = proposal_index(study, trial)
        rng = np.random.default_rng(derive_seed(self.context.seed, index))
        spec = self.propose(history(study, self.encoding, trial.number), index, rng)
        params = indices_to_params(self.encoding, self.encoding.encode(spec))
        return {k: v for k, v in params.items() if k in search_space}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        # Only reached for a parameter outside the encoding: draw it uniformly, seeded.
        rng = np.random.default_rng(derive_seed(self.context.seed, trial.number))
        return optuna.samplers.RandomSampler(seed=int(rng.integers(2**31))).sample_independent(
            study, trial, param_name, param_distribution
        )


class Reseeded(optuna.samplers.BaseSampler):
    """An Optuna sampler rebuilt for every trial with a seed derived from the trial number.

    Optuna's samplers keep a random state that advances with every call, so a search resumed
    in a new process would propose differently from the uninterrupted one. Rebuilding the
    sampler per trial from ``derive_seed(seed, trial.number)`` makes its proposals a function
    of the seed and the study only; its learning (TPE's densities, the GP, NSGA-II's
    generations) already lives in the study.
    """

    def __init__(self, factory: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self._factory = factory
        self._seed = seed
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def _inner(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number not in self._by_trial:
            raise RuntimeError(f"trial {trial.number} was not started by this sampler")
        return self._by_trial[trial.number]

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        seed = derive_seed(self._seed, proposal_index(study, trial))
        self._by_trial = {trial.number: self._factory(seed)}
        self._inner(trial).before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._inner(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        return self._inner(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._inner(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._inner(trial).after_trial(study, trial, state, values)
