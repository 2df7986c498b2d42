"""Replaying searches against a reference table: the blackbox, the schedulers' contract, the
simulated clock and the hypervolume."""

from __future__ import annotations

import pytest

from speechnas.arch import ArchSpec
from speechnas.bench import ReferenceTable
from speechnas.search.replay import (
    FullBudget,
    PredictedStop,
    ReplayTrace,
    SuccessiveHalving,
    TableBlackbox,
    _State,
    hypervolume_2d,
    replay,
)
from speechnas.space import SpeechSpace
from speechnas.testing.bench import planted_table

SPACE = SpeechSpace(
    frontends=("logmel",),
    n_mels=(80,),
    subsamplings=("conv2d",),
    subsampling_factors=(4,),
    time_reduction=False,
    encoders=("conformer", "lstm"),
    attentions=("rel",),
    min_layers=1,
    max_layers=3,
    widths=(16, 32, 48, 64),
    kernels=(15,),
    heads=(2,),
    ffn_expansions=(4.0,),
    decoders=("ctc",),
)


@pytest.fixture(scope="module")
def box() -> TableBlackbox:
    return TableBlackbox(ReferenceTable(planted_table(24)))


def test_the_blackbox_answers_with_the_table_and_the_nearest_architecture(
    box: TableBlackbox,
) -> None:
    table = box.table
    arch = box.archs[5]
    assert box.nearest(table.entries[arch].spec) == arch
    assert box.cer(arch) == pytest.approx(table.score(arch))
    assert box.cost(arch, 1.0) == pytest.approx(table.training_cpu_seconds(arch) / 3)
    assert box.latency_name == "latency_ms"
    near = box.nearest(ArchSpec.uniform(num_layers=2, width=40, encoder="lstm", heads=2))
    assert table.entries[near].family == "lstm"


@pytest.mark.slow  # over 10 s
def test_full_budget_trains_every_new_architecture_once_and_the_clock_adds_up(
    box: TableBlackbox,
) -> None:
    trace = replay("random", box, FullBudget(), SPACE, seconds=2e6, seed=0)
    assert trace.ends == sorted(trace.ends)
    charged = {a: box.cost(a) for a in set(trace.archs)}
    assert trace.ends[-1] == pytest.approx(sum(charged.values()))
    assert all(e == 3.0 for e in trace.epochs)
    assert all(
        p == (box.cer(a), box.latency(a)) for a, p in zip(trace.archs, trace.points, strict=True)
    )


def test_successive_halving_stops_trials_at_a_rung_for_less_cost(box: TableBlackbox) -> None:
    state = _State()
    sh = SuccessiveHalving(rungs=(1.0, 3.0), reduction_factor=3)
    ends = [sh.run(a, box, state) for a in box.archs]
    assert set(ends) == {1.0, 3.0} and ends.count(1.0) > ends.count(3.0)
    assert len(state.rungs[1.0]) == len(box.archs)  # rung scores read, never the budget's
    full = replay("random", box, FullBudget(), SPACE, seconds=3e5, seed=1)
    halved = replay("random", box, sh, SPACE, seconds=3e5, seed=1)
    assert len(set(halved.archs)) > len(set(full.archs))


def test_predicted_stop_stops_only_what_the_front_dominates_beyond_the_margin(
    box: TableBlackbox,
) -> None:
    best, worst = min(box.archs, key=box.cer), max(box.archs, key=box.cer)
    truth = {a: box.cer(a) for a in box.archs}
    stop = PredictedStop(at_epoch=1.0, predictions=truth, margin=0.0)
    state = _State()
    assert stop.run(worst, box, state) == 3.0  # nothing finished yet: nothing dominates
    state.finished.append((box.cer(best), box.latency(worst)))
    assert stop.run(worst, box, state) == 1.0
    itself = _State(finished=[(box.cer(best), box.latency(best))])
    assert stop.run(best, box, itself) == 3.0  # equal, not dominated
    wide = PredictedStop(at_epoch=1.0, predictions=truth, margin=1.0)
    assert wide.run(worst, box, state) == 3.0  # within the predictor's error: trained


def test_the_predicted_stops_error_is_measured_on_the_trials_it_trained(
    box: TableBlackbox,
) -> None:
    hopeful = {a: box.cer(a) - 0.2 for a in box.archs}  # every prediction 0.2 too good
    stop = PredictedStop(at_epoch=1.0, predictions=hopeful, margin=0.01, min_trials=2)
    state = _State()
    assert stop.run(box.archs[0], box, state) == 3.0
    assert stop.margin() == 0.01  # one residual: the floor
    assert stop.run(box.archs[1], box, state) == 3.0
    assert stop.margin() == pytest.approx(0.2)


def test_replays_are_reproducible_by_seed(box: TableBlackbox) -> None:
    a = replay("tpe", box, FullBudget(), SPACE, seconds=1e6, seed=3)
    b = replay("tpe", box, FullBudget(), SPACE, seconds=1e6, seed=3)
    assert a.archs == b.archs and a.ends == b.ends


def test_hypervolume_of_a_known_front() -> None:
    assert hypervolume_2d([(0.5, 0.5)], (1.0, 1.0)) == pytest.approx(0.25)
    two = [(0.2, 0.8), (0.8, 0.2)]
    assert hypervolume_2d(two, (1.0, 1.0)) == pytest.approx(0.28)
    assert hypervolume_2d([*two, (0.9, 0.9)], (1.0, 1.0)) == pytest.approx(0.28)
    assert hypervolume_2d([(2.0, 0.1)], (1.0, 1.0)) == 0.0


def test_a_trace_is_stalled_once_its_last_trials_only_repeat() -> None:
    trace = ReplayTrace(strategy="s", scheduler="x", seed=0)
    for arch in "abab":
        trace.record(0.0, arch, 1.0, None)
    assert trace.stalled(2)  # a, b: both trained before
    assert not trace.stalled(3)  # b was new at the third trial from the end
