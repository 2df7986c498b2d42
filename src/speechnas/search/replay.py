"""Replaying searches against a reference table, in simulated time.

A :class:`TableBlackbox` answers for any architecture of the table's space with the table
architecture nearest to it (standardised spec features, :func:`spec_features`; the encoder
family weighs most): its dev CER after any epoch of the budget (the mean of the table's
seeds), its latency, and what training it that far cost (its runs' CPU-seconds, pro rata of
the steps). A search strategy (an Optuna sampler of :mod:`speechnas.search.strategies`, or
any sampler) proposes architectures by ask-and-tell, exactly as in a real search, and a
:class:`Scheduler` decides how far each trial trains:

- :class:`FullBudget`: every trial to the budget.
- :class:`SuccessiveHalving`: asynchronous successive halving over rungs of epochs (a trial
  goes on from a rung when its CER is within the best ``1 / reduction_factor`` of those that
  reached the rung), as the fidelity ladder does.
- :class:`PredictedStop`: a multi-objective early stop: after ``at_epoch`` epochs a trial's
  predicted final CER (minus the predictor's error) and its latency are compared with the
  front of the trials trained to the budget; a dominated trial stops there.

A trial that repeats an architecture already trained costs nothing (the search's
copy-and-wait rule). :func:`replay` runs until the simulated CPU-seconds run out and returns
the :class:`ReplayTrace`; :meth:`ReplayTrace.hypervolume` reads the front's hypervolume at
any simulated time.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.trial import TrialState

from speechnas.arch import ArchSpec
from speechnas.arch.kinds import as_recogniser
from speechnas.bench import ReferenceTable
from speechnas.estimators import spec_features
from speechnas.search.front_stop import prediction_error
from speechnas.search.pareto import dominates, pareto_front
from speechnas.search.strategies import StrategyContext, make_sampler, suggest_spec
from speechnas.space import SpaceEncoding, SpeechSpace

__all__ = [
    "FullBudget",
    "PredictedStop",
    "ReplayTrace",
    "Scheduler",
    "SuccessiveHalving",
    "TableBlackbox",
    "hypervolume_2d",
    "replay",
]

#: How much more the encoder family counts in the distance than any other feature.
FAMILY_WEIGHT = 4.0


class TableBlackbox:
    """A reference table as a function of any architecture of its space (module docstring).

    Latency: the table's measured ``latency_ms`` where every architecture has it, else its
    MACs per audio second (a stand-in with the same order for one family, stated as such in
    :attr:`latency_name`).
    """

    def __init__(self, table: ReferenceTable) -> None:
        self.table = table
        self.archs = table.complete()
        if len(self.archs) < 2:
            raise ValueError(f"{table.name}: fewer than 2 architectures with every seed")
        vocab = int(table.corpus["vocab_size"])
        rows = [spec_features(table.entries[a].spec, vocab) for a in self.archs]
        self._names = list(rows[0])
        x = np.array([[r[n] for n in self._names] for r in rows])
        self._mean = x.mean(axis=0)
        self._scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        self._weights = np.array(
            [FAMILY_WEIGHT if n.startswith("encoder_") else 1.0 for n in self._names]
        )
        self._points = (x - self._mean) / self._scale
        self._vocab = vocab
        measured = all("latency_ms" in table.entries[a].costs for a in self.archs)
        self.latency_name = "latency_ms" if measured else "MACs per second"
        self._latency = {
            a: table.entries[a].costs["latency_ms"]
            if measured
            else float(spec_features(table.entries[a].spec, vocab)["log_macs"])
            for a in self.archs
        }
        self.epochs = table.epochs()
        self._nearest: dict[str, str] = {}

    def nearest(self, spec: ArchSpec) -> str:
        """The table architecture nearest ``spec`` (itself where the table holds it)."""
        if spec.arch_id in self._latency:
            return spec.arch_id
        if spec.arch_id not in self._nearest:
            row = spec_features(spec, self._vocab)
            point = (np.array([row[n] for n in self._names]) - self._mean) / self._scale
            distance = (((self._points - point) * self._weights) ** 2).sum(axis=1)
            self._nearest[spec.arch_id] = self.archs[int(np.argmin(distance))]
        return self._nearest[spec.arch_id]

    def cer(self, arch_id: str, epoch: float | None = None) -> float:
        """The mean over the seeds of the dev CER after ``epoch`` epochs (None: the budget)."""
        return self.table.score(arch_id, "cer", epoch=epoch)

    def latency(self, arch_id: str) -> float:
        return self._latency[arch_id]

    def cost(self, arch_id: str, epoch: float | None = None) -> float:
        """CPU-seconds to train ``arch_id`` for ``epoch`` epochs of the budget's schedule."""
        run = self.table.run(arch_id, self.table.seeds[0])
        steps = run.at(epoch).step if epoch is not None else run.curve[-1].step
        return self.table.training_cpu_seconds(arch_id) * steps / run.curve[-1].step


#: Trials in a row that only repeat trained architectures before a replay ends.
PATIENCE = 100


@dataclass
class _State:
    """What a scheduler may read: each rung's CERs so far, the budget's points so far."""

    rungs: dict[float, list[float]] = field(default_factory=dict)
    finished: list[tuple[float, float]] = field(default_factory=list)


class Scheduler(abc.ABC):
    """Decides how far a trial trains. Contract: :meth:`run` returns the epochs the trial
    trained (one of the blackbox's epochs; the last: it reached the budget) and may read and
    add to the state (rung scores); it never reads the CER of an epoch it did not train."""

    name: str = "scheduler"

    @abc.abstractmethod
    def run(self, arch_id: str, box: TableBlackbox, state: _State) -> float:
        """The epochs ``arch_id`` trains."""


class FullBudget(Scheduler):
    name = "full budget"

    def run(self, arch_id: str, box: TableBlackbox, state: _State) -> float:
        return box.epochs[-1]


class SuccessiveHalving(Scheduler):
    """Asynchronous successive halving over ``rungs`` (epochs, the last the budget)."""

    def __init__(self, rungs: Sequence[float], reduction_factor: int = 3) -> None:
        self.rungs = tuple(rungs)
        self.reduction_factor = reduction_factor
        self.name = f"successive halving (rungs {', '.join(f'{r:g}' for r in rungs)} epochs)"

    def run(self, arch_id: str, box: TableBlackbox, state: _State) -> float:
        for rung in self.rungs[:-1]:
            score = box.cer(arch_id, rung)
            seen = state.rungs.setdefault(rung, [])
            seen.append(score)
            keep = max(1, len(seen) // self.reduction_factor)
            if score > sorted(seen)[keep - 1]:
                return rung
        return self.rungs[-1]


class PredictedStop(Scheduler):
    """Multi-objective early stop on a predicted final CER (module docstring), as
    ``fidelity.pruner: predicted_front`` does in a search.

    ``predictions``: arch_id -> its predicted final CER from what a trial knows after
    ``at_epoch`` epochs (its curve so far, or a predictor fitted without that architecture).
    The predictor's error is the root mean square of ``final - predicted`` over the trials
    this scheduler trained to the budget, never below ``margin``, which stands alone until
    ``min_trials`` of them have finished. A trial stops after ``at_epoch`` when ``(prediction
    - error, latency)`` is dominated by a point trained to the budget.
    """

    def __init__(
        self,
        at_epoch: float,
        predictions: Mapping[str, float],
        margin: float,
        min_trials: int = 3,
        label: str = "predicted stop",
    ) -> None:
        self.at_epoch = at_epoch
        self.predictions = dict(predictions)
        self.floor = margin
        self.min_trials = min_trials
        self.residuals: list[float] = []
        self.name = f"{label} after {at_epoch:g} epochs (error >= {margin:.3f})"

    def margin(self) -> float:
        """The predictor's error as measured so far (see the class docstring)."""
        return prediction_error(self.residuals, self.floor, self.min_trials)

    def run(self, arch_id: str, box: TableBlackbox, state: _State) -> float:
        predicted = self.predictions[arch_id]
        optimistic = (predicted - self.margin(), box.latency(arch_id))
        if any(dominates(p, optimistic) for p in state.finished):
            return self.at_epoch
        self.residuals.append(box.cer(arch_id) - predicted)
        return box.epochs[-1]


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The area dominated by ``points`` (both objectives minimised) up to ``reference``."""
    inside = [p for p in points if p[0] < reference[0] and p[1] < reference[1]]
    if not inside:
        return 0.0
    front = sorted({tuple(inside[i]) for i in pareto_front(inside)})
    area = 0.0
    for i, (x, y) in enumerate(front):
        right = front[i + 1][0] if i + 1 < len(front) else reference[0]
        area += (right - x) * (reference[1] - y)
    return area


@dataclass
class ReplayTrace:
    """A replayed search: per trial, when it ended (simulated CPU-seconds), its table
    architecture, the epochs it trained and, for those at the budget, its (CER, latency)."""

    strategy: str
    scheduler: str
    seed: int
    ends: list[float] = field(default_factory=list)
    archs: list[str] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    points: list[tuple[float, float] | None] = field(default_factory=list)

    def record(
        self, end: float, arch_id: str, epochs: float, point: tuple[float, float] | None
    ) -> None:
        """Add one trial."""
        self.ends.append(end)
        self.archs.append(arch_id)
        self.epochs.append(epochs)
        self.points.append(point)

    def stalled(self, patience: int) -> bool:
        """The last ``patience`` trials all repeated architectures trained before them (a
        search that only repeats itself: simulated time stands still)."""
        if len(self.archs) < patience:
            return False
        before = set(self.archs[:-patience])
        return all(a in before for a in self.archs[-patience:])

    def hypervolume(self, at: float, reference: tuple[float, float]) -> float:
        """The hypervolume of the budget-trained trials that ended by ``at``."""
        done = [p for t, p in zip(self.ends, self.points, strict=True) if t <= at and p]
        return hypervolume_2d(done, reference)


def replay(
    strategy: str,
    box: TableBlackbox,
    scheduler: Scheduler,
    space: SpeechSpace,
    *,
    seconds: float,
    seed: int = 0,
    options: Mapping[str, object] | None = None,
    patience: int = PATIENCE,
) -> ReplayTrace:
    """Run ``strategy`` on ``box`` with ``scheduler`` for ``seconds`` simulated CPU-seconds
    (objectives: final CER and latency, both minimised), or until ``patience`` trials in a
    row propose only architectures already trained (repeats cost no time)."""
    encoding = SpaceEncoding(space)
    context = StrategyContext(
        encoding=encoding, seed=seed, directions=("minimize", "minimize"), options=options or {}
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=make_sampler(strategy, context), directions=["minimize", "minimize"]
    )
    trace = ReplayTrace(strategy=strategy, scheduler=scheduler.name, seed=seed)
    state = _State()
    trained: dict[str, float] = {}
    clock = 0.0
    while clock < seconds:
        trial = study.ask()
        arch_id = box.nearest(as_recogniser(suggest_spec(trial, encoding)))
        if arch_id in trained:
            epochs = trained[arch_id]  # a repeat is not trained again
        else:
            epochs = scheduler.run(arch_id, box, state)
            trained[arch_id] = epochs
            clock += box.cost(arch_id, epochs)
        point = None
        if epochs == box.epochs[-1]:
            point = (box.cer(arch_id), box.latency(arch_id))
            if point not in state.finished:
                state.finished.append(point)
            study.tell(trial, list(point))
        else:
            study.tell(trial, state=TrialState.PRUNED)
        trace.record(clock, arch_id, epochs, point)
        if trace.stalled(patience):
            break
    return trace
