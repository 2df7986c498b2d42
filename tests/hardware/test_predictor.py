from __future__ import annotations

import pytest

from speechnas.hardware import TorchCPUTarget
from speechnas.hardware.lut import LatencyTable
from speechnas.hardware.predictor import MIN_MODELS, LatencyPredictor
from speechnas.hardware.tables import profile_table, sample_specs
from speechnas.space import SpeechSpace

TINY = SpeechSpace(
    n_mels=(40,),
    encoders=("conformer", "lstm", "cnn"),
    min_layers=1,
    max_layers=3,
    widths=(16, 32, 48),
    kernels=(3, 5),
    heads=(2,),
    ffn_expansions=(2.0,),
    decoders=("ctc",),
    subsampling_channels=8,
)


@pytest.fixture(scope="module")
def table() -> LatencyTable:
    specs = sample_specs(TINY, MIN_MODELS + 6, seed=0)
    return profile_table(specs, TorchCPUTarget(1), audio_s=1.0, warmup=1, repeats=3)


def test_sample_specs_are_distinct_and_seeded() -> None:
    a = sample_specs(TINY, 20, seed=3)
    assert len({s.arch_id for s in a}) == 20
    assert [s.arch_id for s in a] == [s.arch_id for s in sample_specs(TINY, 20, seed=3)]
    assert all(TINY.contains(s) for s in a)


def test_few_models_predict_the_table_sum(table: LatencyTable) -> None:
    small = LatencyTable(table.target, table.audio_s)
    small.entries = table.entries
    small.models = table.models[: MIN_MODELS - 1]
    predictor = LatencyPredictor(small)
    assert not predictor.learned
    spec = sample_specs(TINY, 1, seed=9)[0]
    p = predictor.predict(spec)
    assert p.latency_ms == p.table_ms > 0
    assert p.low_ms == pytest.approx(0.75 * p.table_ms)


def test_learned_predictor_is_deterministic_and_banded(table: LatencyTable) -> None:
    first, second = LatencyPredictor(table, seed=1), LatencyPredictor(table, seed=1)
    assert first.learned
    for spec in sample_specs(TINY, 5, seed=11):
        p, q = first.predict(spec), second.predict(spec)
        assert p == q
        assert 0 < p.low_ms <= p.latency_ms <= p.high_ms
        assert 0.0 <= p.table_hits <= 1.0
