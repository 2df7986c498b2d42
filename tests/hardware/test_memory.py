"""Measured inference memory and the memory model fitted on it.

Measurements are real (a fresh process each, a few seconds); the fitting tests use records
with a known law so that they check the fit, not this machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.hardware import memory as memory_module
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.memory import (
    MIN_RECORDS,
    MemoryModel,
    MemoryRecord,
    analytic_memory_bytes,
    measure_peak_memory,
    peak_memory_unavailable,
)

TINY = ArchSpec.from_dict({"encoder": "cnn", "n_mels": 40, "layers": [{"width": 16, "kernel": 3}]})
MEDIUM = ArchSpec.uniform(num_layers=6, width=144, heads=4, kernel=15)

measures = pytest.mark.skipif(
    peak_memory_unavailable() is not None, reason=str(peak_memory_unavailable())
)


@measures
def test_resetting_the_peak_forgets_memory_already_freed() -> None:
    """The mechanism every measurement relies on: after a reset, VmHWM no longer counts a
    buffer that was freed before it."""
    big = torch.ones(25_000_000)  # 100 MB, touched
    del big
    _, before = memory_module._resident_mb()
    memory_module._reset_peak()
    current, after = memory_module._resident_mb()
    assert before - after > 80  # MB
    assert after == pytest.approx(current, abs=5)


@measures
def test_longer_audio_and_bigger_models_measure_more() -> None:
    short = measure_peak_memory(TINY, 1.0)
    long = measure_peak_memory(TINY, 20.0)
    big = measure_peak_memory(MEDIUM, 1.0)
    for r in (short, long, big):
        assert r.inference_mb > 0 and r.peak_mb > r.baseline_mb > 50  # torch is resident
        assert r.threads == 1
    # 20 s of audio: ~5 MB more activations by the analytic estimate, seen in the peak.
    assert long.activation_mb - short.activation_mb > 4
    assert long.inference_mb - short.inference_mb > 3
    # The bigger model's 12.5 MB of weights are resident before inference starts.
    assert big.weights_mb - short.weights_mb > 12
    assert big.baseline_mb - short.baseline_mb > 0.8 * (big.weights_mb - short.weights_mb)
    assert big.memory_mb > short.memory_mb
    model = untrained_model(MEDIUM)
    weights, activations = analytic_memory_bytes(model, 1.0)
    assert big.weights_mb == pytest.approx(weights / 1e6)
    assert big.activation_mb == pytest.approx(activations / 1e6)
    assert big.analytic_mb == pytest.approx((weights + activations) / 1e6)


def test_no_measurement_where_the_peak_cannot_be_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_module, "peak_memory_unavailable", lambda: "no /proc here")
    with pytest.raises(RuntimeError, match="no /proc here"):
        measure_peak_memory(TINY, 1.0)


def _records(count: int, seed: int = 0, noise: float = 0.03) -> list[MemoryRecord]:
    """Records that follow ``memory = 3 + 1.1 * weights + 1.5 * activations`` MB, times a
    seeded relative noise of about ``noise``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        weights = float(rng.uniform(0.1, 40.0))
        activations = float(rng.uniform(0.2, 10.0))
        memory = (3.0 + 1.1 * weights + 1.5 * activations) * (1 + noise * rng.standard_normal())
        baseline = 300.0 + weights
        out.append(
            MemoryRecord(
                spec=ArchSpec.uniform(num_layers=1 + i % 12, width=64 + 8 * (i // 12)),
                audio_s=5.0,
                threads=1,
                baseline_mb=baseline,
                peak_mb=baseline + memory - weights,
                weights_mb=weights,
                activation_mb=activations,
            )
        )
    return out


def _model(records: list[MemoryRecord]) -> MemoryModel:
    memory = MemoryModel(audio_s=5.0, threads=1)
    for r in records:
        memory.add(r)
    return memory


def test_the_fit_recovers_a_known_law_and_holds_its_training_points_in_its_band() -> None:
    records = _records(60)
    memory = _model(records)
    a, b, c = memory.coefficients
    assert a == pytest.approx(3.0, abs=1.0)
    assert b == pytest.approx(1.1, abs=0.05) and c == pytest.approx(1.5, abs=0.2)
    inside = 0
    for r in records:
        mid, low, high = memory.predict_from(r.weights_mb, r.activation_mb)
        assert low <= mid <= high
        assert abs(mid / r.memory_mb - 1) < 0.15
        inside += low <= r.memory_mb <= high
    assert 0.7 <= inside / len(records) <= 0.95  # a 10-90% band
    # Held-out points of the same law: about as often inside.
    held = _records(200, seed=1)
    held_inside = np.mean(
        [
            (p := memory.predict_from(r.weights_mb, r.activation_mb)).low_mb
            <= r.memory_mb
            <= p.high_mb
            for r in held
        ]
    )
    assert 0.65 <= held_inside <= 0.95


def test_a_prediction_for_a_spec_uses_its_weights_and_activations() -> None:
    memory = _model(_records(30))
    model = untrained_model(MEDIUM)
    weights, activations = analytic_memory_bytes(model, 5.0)
    expected = memory.predict_from(weights / 1e6, activations / 1e6)
    assert memory.predict(MEDIUM) == pytest.approx(expected)
    assert memory.predict(MEDIUM, model) == pytest.approx(expected)
    assert memory.predict(TINY).memory_mb < expected.memory_mb
    assert memory.predict(TINY).memory_mb >= untrained_model(TINY).num_params() * 4 / 1e6


def test_too_few_records_or_a_foreign_record_are_refused() -> None:
    memory = _model(_records(MIN_RECORDS - 1))
    with pytest.raises(ValueError, match=f"at least {MIN_RECORDS}"):
        memory.predict(TINY)
    other = _records(1)[0]
    with pytest.raises(ValueError, match="2 thread"):
        memory.add(MemoryRecord(**{**other.__dict__, "threads": 2}))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    memory = _model(_records(20))
    path = memory.save(tmp_path / "sub" / "memory.json")
    loaded = MemoryModel.load(path)
    assert loaded.records == memory.records
    assert (loaded.audio_s, loaded.threads) == (5.0, 1)
    assert loaded.machine == memory.machine and loaded.machine["versions"]["torch"]
    assert loaded.coefficients == pytest.approx(memory.coefficients)
    assert loaded.predict(MEDIUM) == pytest.approx(memory.predict(MEDIUM))
    assert json.loads(path.read_text())["fit"]["coef"] == pytest.approx(memory.coefficients)


def test_bad_files_are_refused_with_the_file_and_field_named(tmp_path: Path) -> None:
    path = tmp_path / "memory.json"
    with pytest.raises(UserError, match="not found"):
        MemoryModel.load(path)
    path.write_text("{not json")
    with pytest.raises(UserError, match="memory.json: not a readable memory table"):
        MemoryModel.load(path)
    good = _model(_records(3)).to_dict()
    path.write_text(json.dumps({**good, "version": 0}))
    with pytest.raises(UserError, match="version 0"):
        MemoryModel.load(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "threads"}))
    with pytest.raises(UserError, match="missing the field 'threads'"):
        MemoryModel.load(path)
    broken = json.loads(json.dumps(good))
    del broken["records"][2]["peak_mb"]
    path.write_text(json.dumps(broken))
    with pytest.raises(UserError, match=r"records\[2\] is missing the field 'peak_mb'"):
        MemoryModel.load(path)
    broken = json.loads(json.dumps(good))
    broken["records"][1]["audio_s"] = 1.0
    path.write_text(json.dumps(broken))
    with pytest.raises(UserError, match=r"memory.json: records\[1\]"):
        MemoryModel.load(path)
