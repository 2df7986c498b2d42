"""The estimator contract (lower is better, deterministic, costed) for every estimator, and
what each one computes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from speechnas.arch import ArchSpec
from speechnas.bench import ReferenceTable
from speechnas.estimators import (
    PROXIES,
    CurveExtrapolation,
    EarlyScore,
    Estimator,
    LearnedPredictor,
    Prefix,
    PrefixSource,
    ProbeBatch,
    TablePrefix,
    TrainedPrefix,
    TrainingSpeed,
    ZeroCostEstimator,
    cross_validate,
    extrapolate,
    spec_features,
)
from speechnas.testing.bench import TABLE_SPECS, table_data
from speechnas.train import TrainConfig, train

SPECS = [
    ArchSpec.uniform(num_layers=n, width=w, heads=2, ffn_expansion=2.0, kernel=3, n_mels=40)
    for n, w in ((1, 16), (2, 16), (2, 32), (3, 32), (1, 48), (2, 48))
]
LSTM = ArchSpec.uniform(num_layers=2, width=16, encoder="lstm", n_mels=40)


class FakePrefix(PrefixSource):
    """Losses that fall at a rate set by the width; a dev point every 10 steps."""

    def prefix(self, spec: ArchSpec, steps: int) -> Prefix:
        rate = spec.layers[0].width / 100
        losses = tuple(100.0 * np.exp(-rate * np.arange(steps) / 10))
        curve = tuple(
            (s, 0.4 + 0.6 * float(np.exp(-rate * s / 10)), 1.0) for s in range(10, steps + 1, 10)
        )
        return Prefix(steps=steps, curve=curve, step_losses=losses, cpu_seconds=0.5 * steps)


def _estimators(probe: ProbeBatch) -> dict[str, Callable[[], Estimator]]:
    fake = FakePrefix()
    fitted = LearnedPredictor(probe.vocab_size, model="ridge")
    fitted.fit(SPECS, [0.9 - 0.01 * s.layers[0].width for s in SPECS])
    made: dict[str, Callable[[], Estimator]] = {
        f"zero_cost:{p}": (lambda p=p: ZeroCostEstimator(p, probe)) for p in PROXIES
    }
    made |= {
        "training_speed": lambda: TrainingSpeed(fake, 20),
        "early_score": lambda: EarlyScore(fake, 30),
        "curve": lambda: CurveExtrapolation(fake, 30, 100),
        "predictor": lambda: fitted,
    }
    return made


@pytest.fixture
def probe(tiny_corpus: dict[str, Path]) -> ProbeBatch:
    return ProbeBatch.from_manifest(tiny_corpus["train"], utterances=4, seed=0)


@pytest.mark.parametrize(
    "kind",
    [f"zero_cost:{p}" for p in PROXIES] + ["training_speed", "early_score", "curve", "predictor"],
)
def test_every_estimator_keeps_the_contract(kind: str, probe: ProbeBatch) -> None:
    estimator = _estimators(probe)[kind]()
    for spec in (SPECS[1], LSTM):
        first = estimator.estimate(spec)
        assert np.isfinite(first.score)
        assert first.cpu_seconds >= 0.0
        again = _estimators(probe)[kind]().estimate(spec)
        assert again.score == first.score  # deterministic, whatever ran before


def test_a_prefix_read_from_elsewhere_is_paid_for_in_the_estimate() -> None:
    est = TrainingSpeed(FakePrefix(), 20).estimate(SPECS[0])
    assert est.cpu_seconds >= 10.0  # 20 steps at 0.5 s each


def test_lower_scores_for_the_faster_learner_for_every_prefix_estimator() -> None:
    slow, fast = SPECS[0], SPECS[2]  # width 16 against 32: the fake learns at width / 100
    for estimator in (
        TrainingSpeed(FakePrefix(), 20),
        EarlyScore(FakePrefix(), 30),
        CurveExtrapolation(FakePrefix(), 30, 100),
    ):
        assert estimator.estimate(fast).score < estimator.estimate(slow).score


def test_training_speed_sums_the_losses_and_early_score_reads_the_last_point() -> None:
    prefix = FakePrefix().prefix(SPECS[0], 30)
    assert TrainingSpeed(FakePrefix(), 30).estimate(SPECS[0]).score == pytest.approx(
        sum(prefix.step_losses)
    )
    assert EarlyScore(FakePrefix(), 30).estimate(SPECS[0]).score == prefix.curve[-1][1]
    assert EarlyScore(FakePrefix(), 30, "wer").estimate(SPECS[0]).score == 1.0


def test_curve_extrapolation_recovers_the_curve_family_it_fits() -> None:
    truth = [(s, 0.3 + 0.7 * float(np.exp(-s / 200))) for s in (100, 200, 300)]
    assert extrapolate(truth, 1000) == pytest.approx(0.3 + 0.7 * np.exp(-5), abs=1e-3)
    assert extrapolate([(100, 0.8)], 1000) == 0.8  # one point: that point
    with pytest.raises(ValueError, match="no points"):
        extrapolate([], 10)


def test_a_proxy_of_another_name_is_refused(probe: ProbeBatch) -> None:
    with pytest.raises(ValueError, match="unknown proxy 'flops'"):
        ZeroCostEstimator("flops", probe)


def test_params_and_macs_order_by_size(probe: ProbeBatch) -> None:
    small, big = SPECS[0], SPECS[5]
    for proxy in ("params", "macs"):
        est = ZeroCostEstimator(proxy, probe)
        assert est.estimate(big).score < est.estimate(small).score


def test_the_predictor_is_validated_without_the_architecture_it_predicts() -> None:
    errors = [0.9 - 0.01 * s.layers[0].width for s in SPECS]
    predictor = LearnedPredictor(30, model="ridge")
    honest = cross_validate(predictor, SPECS, errors)
    planted = list(errors)
    planted[0] = 50.0  # the held-out target must not reach its own prediction
    assert cross_validate(predictor, SPECS, planted)[0] == pytest.approx(honest[0])
    with pytest.raises(RuntimeError, match="fit it"):
        LearnedPredictor(30).estimate(SPECS[0])
    with pytest.raises(ValueError, match="unknown model"):
        LearnedPredictor(30, model="svm")


def test_spec_features_tell_families_and_sizes_apart() -> None:
    a, b = spec_features(SPECS[0], 30), spec_features(LSTM, 30)
    assert a.keys() == b.keys()
    assert a["encoder_conformer"] == 1.0 and b["encoder_lstm"] == 1.0
    assert a["depth"] == 1.0 and b["depth"] == 2.0


def _config(corpus: dict[str, Path], out: Path) -> TrainConfig:
    return TrainConfig(
        train_manifest=str(corpus["train"]),
        dev_manifest=str(corpus["dev"]),
        out_dir=str(out),
        arch=SPECS[1],
        max_epochs=3,
        batch_seconds=6.0,
        warmup_steps=2,
        seed=3,
        threads=1,
    )


def test_a_trained_prefix_is_the_first_steps_of_the_full_run(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    config = _config(tiny_corpus, tmp_path / "full")
    full = train(config, progress=False)
    history = [json.loads(x) for x in (full.out_dir / "history.jsonl").read_text().splitlines()]
    losses = [x for h in history for x in h["step_losses"]]
    assert len(losses) == full.steps > 5
    prefix = TrainedPrefix(config, tmp_path / "prefixes").prefix(SPECS[1], 5)
    assert prefix.steps == 5
    assert list(prefix.step_losses) == losses[:5]  # the budget's schedule, not one of 5 steps
    assert prefix.curve[-1][0] == 5  # scored where it stopped


def test_a_table_prefix_reads_the_run_and_costs_its_share(tmp_path: Path) -> None:
    table = ReferenceTable(table_data({0: [0.5, 0.6, 0.7, 0.8], 1: [0.7, 0.6, 0.9, 1.0]}))
    spec = TABLE_SPECS[0]
    prefix = TablePrefix(table, 1).prefix(spec, 10)
    assert prefix.curve == ((10, 0.95, 1.0),)
    assert prefix.step_losses == (1.0,) * 10
    assert prefix.cpu_seconds == pytest.approx(61.0 * 10 / 20)
    assert TablePrefix(table, 1).prefix(spec, 20).curve[-1] == pytest.approx((20, 0.7, 0.9))
    beyond = TablePrefix(table, 1).prefix(spec, 15)  # past the losses the table kept
    assert beyond.steps == 15 and len(beyond.step_losses) == 10
    assert beyond.curve == ((10, 0.95, 1.0),)
    with pytest.raises(ValueError, match="losses of 10 steps .* are known; 15 asked for"):
        TrainingSpeed(TablePrefix(table, 1), 15).estimate(spec)
