"""A latency table's chunk-by-chunk records: what a streaming model computes per chunk on the
table's target, read back for a profiled architecture and fitted for one it has not seen."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from speechnas.hardware import TorchCPUTarget
from speechnas.hardware.lut import LatencyTable, chunk_macs, chunk_seconds
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.tables import profile_table, sample_specs
from speechnas.space import SpeechSpace
from speechnas.testing.hardware import chunk_ms, synthetic_table

SPACE = SpeechSpace(
    decoders=("ctc",),
    streaming="on",
    encoders=("conformer", "transformer", "lstm", "cnn"),
    min_layers=1,
    max_layers=3,
    widths=(32, 64),
    heads=(2, 4),
    n_mels=(40,),
)
TARGET = TorchCPUTarget(1).describe()


def test_profiling_records_the_compute_per_chunk_of_streaming_models(tmp_path: Path) -> None:
    streaming = sample_specs(SPACE, 2, seed=0)
    full = sample_specs(dataclasses.replace(SPACE, streaming="off"), 1, seed=0)
    table = profile_table([*streaming, *full], TorchCPUTarget(1), audio_s=1.0, repeats=1)
    assert len(table.models) == 3  # every model's parts
    assert [r["spec"] for r in table.chunks] == [s.to_dict() for s in streaming]
    for spec, record in zip(streaming, table.chunks, strict=True):
        model = untrained_model(spec)
        assert record["compute_ms"] > 0
        assert record["macs"] == chunk_macs(model) > 0
        assert record["chunk_ms"] == pytest.approx(1000 * chunk_seconds(model))
    again = LatencyTable.load(table.save(tmp_path / "lut.json"))
    assert again.chunks == json.loads(json.dumps(table.chunks))


def test_a_profiled_architecture_reads_its_own_record() -> None:
    specs = sample_specs(SPACE, 6, seed=1)
    table = synthetic_table(specs, TARGET)
    for spec in specs:
        estimate = table.estimate_chunk(spec, untrained_model(spec))
        assert estimate.exact
        assert estimate.ms == estimate.low_ms == estimate.high_ms == pytest.approx(chunk_ms(spec))


def test_an_unseen_architecture_is_fitted_by_family_and_head() -> None:
    specs = sample_specs(SPACE, 40, seed=2)
    table = synthetic_table(specs[:30], TARGET)
    for spec in specs[30:]:
        estimate = table.estimate_chunk(spec, untrained_model(spec))
        assert not estimate.exact
        # The synthetic law is log-linear in MACs per chunk and layers: the fit holds it.
        assert estimate.ms == pytest.approx(chunk_ms(spec), rel=1e-6)
        assert estimate.low_ms <= estimate.ms * (1 + 1e-9)
        assert estimate.high_ms >= estimate.ms * (1 - 1e-9)


def test_a_band_from_records_left_out_covers_a_noisy_law() -> None:
    specs = sample_specs(SPACE, 40, seed=3)
    table = LatencyTable(TARGET, audio_s=1.0)
    rng = np.random.default_rng(0)
    for spec in specs[:30]:
        noise = float(np.exp(0.1 * rng.standard_normal()))
        table.add_chunks(spec, untrained_model(spec), chunk_ms(spec) * noise)
    inside = 0
    for spec in specs[30:]:
        estimate = table.estimate_chunk(spec, untrained_model(spec))
        assert estimate.low_ms < estimate.ms < estimate.high_ms
        assert 0.6 < estimate.high_ms / estimate.low_ms < 2.0  # about +-13%, not wide open
        inside += estimate.low_ms <= chunk_ms(spec) <= estimate.high_ms
    assert inside >= 7  # the noise-free value inside the band for most


def test_few_records_scale_with_macs_in_a_wide_band() -> None:
    a, b = sample_specs(SPACE, 2, seed=4)
    table = LatencyTable(TARGET, audio_s=1.0)
    table.add_chunks(a, untrained_model(a), 2.0)
    estimate = table.estimate_chunk(b, untrained_model(b))
    ratio = chunk_macs(untrained_model(b)) / chunk_macs(untrained_model(a))
    assert estimate.ms == pytest.approx(2.0 * ratio)
    assert (estimate.low_ms, estimate.high_ms) == pytest.approx(
        (0.75 * estimate.ms, 1.25 * estimate.ms)
    )


def test_what_has_no_chunks_is_refused(tmp_path: Path) -> None:
    (full,) = sample_specs(dataclasses.replace(SPACE, streaming="off"), 1, seed=0)
    (stream,) = sample_specs(SPACE, 1, seed=0)
    table = synthetic_table([full], TARGET)
    with pytest.raises(ValueError, match="no chunk-by-chunk records"):
        table.estimate_chunk(stream, untrained_model(stream))
    with pytest.raises(ValueError, match="is not streaming"):
        synthetic_table([stream], TARGET).estimate_chunk(full, untrained_model(full))
    with pytest.raises(ValueError, match="is not streaming"):
        table.add_chunks(full, untrained_model(full), 1.0)
    # A table written before chunk records existed reads as one without them.
    path = table.save(tmp_path / "old.json")
    raw = json.loads(path.read_text())
    del raw["chunks"]
    path.write_text(json.dumps(raw))
    assert LatencyTable.load(path).chunks == []
