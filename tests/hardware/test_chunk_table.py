"""A latency table's chunk-by-chunk records: what a streaming model computes per chunk on the
table's target, read back for a profiled architecture and fitted for one it has not seen."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.hardware import TorchCPUTarget
from speechnas.hardware.chunk_fit import EXTRAPOLATION, chunk_macs, chunk_seconds
from speechnas.hardware.lut import LatencyTable
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


def _table(specs: list[ArchSpec], law: dict[str, float] | None = None) -> LatencyTable:
    """Chunk records of ``specs``: :func:`chunk_ms`, times ``law[family]`` per family."""
    table = LatencyTable(TARGET, audio_s=1.0)
    for spec in specs:
        model = untrained_model(spec)
        table.add_chunks(spec, model, chunk_ms(spec, model) * (law or {}).get(spec.encoder, 1))
    return table


def test_profiling_records_the_compute_per_chunk_of_streaming_models(tmp_path: Path) -> None:
    streaming = sample_specs(SPACE, 2, seed=0)
    full = sample_specs(dataclasses.replace(SPACE, streaming="off"), 1, seed=0)
    table = profile_table([*streaming, *full], TorchCPUTarget(1), audio_s=1.0, repeats=3)
    assert len(table.models) == 3  # every model's parts
    assert [r["spec"] for r in table.chunks] == [s.to_dict() for s in streaming]
    for spec, record in zip(streaming, table.chunks, strict=True):
        model = untrained_model(spec)
        assert record["compute_ms"] > 0
        assert record["macs"] == chunk_macs(model) > 0
        assert record["chunk_audio_ms"] == pytest.approx(1000 * chunk_seconds(model))
    again = LatencyTable.load(table.save(tmp_path / "lut.json"))
    (unseen,) = [s for s in sample_specs(SPACE, 5, seed=9) if s not in streaming][:1]
    for spec in (*streaming, unseen):
        model = untrained_model(spec)
        assert again.estimate_chunk(spec, model) == table.estimate_chunk(spec, model)


def test_a_profiled_architecture_reads_its_own_record() -> None:
    specs = sample_specs(SPACE, 6, seed=1)
    table = synthetic_table(specs, TARGET)
    for spec in specs:
        estimate = table.estimate_chunk(spec, untrained_model(spec))
        assert estimate.exact
        assert estimate.ms == estimate.low_ms == estimate.high_ms == pytest.approx(chunk_ms(spec))


def test_an_unseen_architecture_follows_its_own_familys_law() -> None:
    """Each family's records follow a law of its own (LSTMs 3x dearer per chunk): an unseen
    architecture is predicted by its family's, not by one fit over all."""
    law = {"lstm": 3.0}
    specs = sample_specs(SPACE, 90, seed=2, stratified=True)
    table = _table(specs[:70], law)
    checked = 0
    for spec in specs[70:]:
        estimate = table.estimate_chunk(spec, untrained_model(spec))
        assert not estimate.exact
        assert estimate.ms == pytest.approx(chunk_ms(spec) * law.get(spec.encoder, 1), rel=1e-6)
        assert estimate.low_ms <= estimate.ms * (1 + 1e-9)
        assert estimate.high_ms >= estimate.ms * (1 - 1e-9)
        checked += spec.encoder == "lstm"
    assert checked  # an LSTM was among those predicted


def test_a_family_with_few_records_borrows_the_fit_over_all() -> None:
    specs = sample_specs(SPACE, 80, seed=3, stratified=True)
    lstm = [s for s in specs if s.encoder == "lstm"]
    others = [s for s in specs if s.encoder != "lstm"]
    table = _table([*others[:50], lstm[0]])  # one LSTM record
    for spec in lstm[1:4]:
        estimate = table.estimate_chunk(spec, untrained_model(spec))
        assert estimate.ms == pytest.approx(chunk_ms(spec), rel=1e-6)


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
        assert 1.05 < estimate.high_ms / estimate.low_ms < 2.0  # about +-13%: not wide open
        inside += estimate.low_ms <= chunk_ms(spec) <= estimate.high_ms
    assert inside >= 7  # the noise-free value inside the band for most


def test_records_of_one_depth_teach_no_depth_slope() -> None:
    """Where every record has the same depth, a fit cannot tell depth from the intercept: a
    deeper candidate is predicted from MACs alone, not from an invented depth slope."""
    specs = sample_specs(
        dataclasses.replace(SPACE, encoders=("cnn",)), 60, seed=4, stratified=True
    )
    shallow = [s for s in specs if len(s.kept_layers) == 1]
    deep = [s for s in specs if len(s.kept_layers) == 3]
    table = LatencyTable(TARGET, audio_s=1.0)
    for spec in shallow:
        model = untrained_model(spec)
        table.add_chunks(spec, model, 0.01 * chunk_macs(model) ** 0.5)
    for spec in deep[:3]:
        model = untrained_model(spec)
        estimate = table.estimate_chunk(spec, model)
        assert estimate.ms == pytest.approx(0.01 * chunk_macs(model) ** 0.5, rel=1e-6)


def test_one_figure_recorded_twice_counts_once_and_predictions_stay_near_the_records() -> None:
    specs = sample_specs(SPACE, 30, seed=5)
    table = LatencyTable(TARGET, audio_s=1.0)
    a, b = specs[0], specs[1]
    for ms in (1.0, 1.0, 3.0):  # the same architecture profiled three times: median 1.0
        table.add_chunks(a, untrained_model(a), ms)
    table.add_chunks(b, untrained_model(b), 2.0)
    assert table.estimate_chunk(a, untrained_model(a)).ms == 1.0
    for spec in specs[2:]:
        estimate = table.estimate_chunk(spec, untrained_model(spec))
        assert 1.0 / EXTRAPOLATION <= estimate.ms <= 2.0 * EXTRAPOLATION
        assert math.isclose(estimate.high_ms / estimate.ms, 1.25)  # too few to leave out


def test_what_has_no_chunks_or_a_bad_figure_is_refused(tmp_path: Path) -> None:
    (full,) = sample_specs(dataclasses.replace(SPACE, streaming="off"), 1, seed=0)
    (stream,) = sample_specs(SPACE, 1, seed=0)
    table = synthetic_table([full], TARGET)
    with pytest.raises(ValueError, match="no chunk-by-chunk records"):
        table.estimate_chunk(stream, untrained_model(stream))
    with pytest.raises(ValueError, match="is not streaming"):
        synthetic_table([stream], TARGET).estimate_chunk(full, untrained_model(full))
    with pytest.raises(ValueError, match="is not streaming"):
        table.add_chunks(full, untrained_model(full), 1.0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive number"):
            table.add_chunks(stream, untrained_model(stream), bad)
    # A table written before chunk records existed reads as one without them.
    path = table.save(tmp_path / "old.json")
    raw = json.loads(path.read_text())
    del raw["chunks"]
    path.write_text(json.dumps(raw))
    assert LatencyTable.load(path).chunks == []
    raw["chunks"] = [{"spec": stream.to_dict(), "compute_ms": -2.0, "macs": 1}]
    path.write_text(json.dumps(raw))
    with pytest.raises(UserError, match="old.json: a bad chunk record"):
        LatencyTable.load(path)


def test_a_table_without_some_models_drops_their_chunk_records() -> None:
    specs = sample_specs(SPACE, 4, seed=6)
    table = synthetic_table(specs, TARGET)
    rest = table.without({0, 2})
    assert [c["spec"] for c in rest.chunks] == [specs[1].to_dict(), specs[3].to_dict()]
    assert len(table.chunks) == 4  # the table itself keeps them
    assert not rest.estimate_chunk(specs[0], untrained_model(specs[0])).exact
