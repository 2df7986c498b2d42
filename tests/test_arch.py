from __future__ import annotations

import dataclasses

import pytest

from speechnas.arch import ArchSpec, DecoderSpec, LayerSpec, StreamingSpec
from speechnas.presets import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name: str) -> None:
    spec = PRESETS[name]
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec and again.arch_id == spec.arch_id


def test_arch_id_ignores_inactive_fields() -> None:
    base = ArchSpec.uniform(num_layers=3, width=96, heads=4)
    skipped = base.with_layer(1, skip=True)
    # A skipped layer's other fields, and where the skipped layer sits, do not matter.
    assert skipped.arch_id == skipped.with_layer(1, kernel=3, width=256).arch_id
    moved = dataclasses.replace(
        base, layers=(base.layers[0], base.layers[2], LayerSpec(skip=True, kernel=5))
    )
    assert moved.arch_id == skipped.arch_id
    # Fields a family does not use.
    lstm = ArchSpec.uniform(encoder="lstm", num_layers=2, width=128)
    assert lstm.arch_id == dataclasses.replace(lstm, attention="linear").arch_id
    assert lstm.arch_id == lstm.with_layer(0, kernel=3, ffn_expansion=2.0).arch_id
    assert base.arch_id == dataclasses.replace(base, attention_window=3).arch_id  # not local
    ctc = dataclasses.replace(base, decoder=DecoderSpec(kind="ctc", dim=64))
    assert ctc.arch_id == base.arch_id
    stream = dataclasses.replace(lstm, streaming=StreamingSpec(chunk=4, lookahead=2))
    assert (
        stream.arch_id
        == dataclasses.replace(
            stream, streaming=StreamingSpec(chunk=16, left_context=5, lookahead=2)
        ).arch_id
    )


def test_arch_id_sees_active_fields() -> None:
    base = ArchSpec.uniform(num_layers=3, width=96, heads=4)
    ids = {
        base.arch_id,
        base.with_layer(0, kernel=3).arch_id,
        base.with_layer(2, heads=8).arch_id,
        base.with_layer(1, skip=True).arch_id,
        dataclasses.replace(base, attention="local").arch_id,
        dataclasses.replace(base, time_reduction_layer=1).arch_id,
        dataclasses.replace(base, time_reduction_layer=2).arch_id,
        dataclasses.replace(base, decoder=DecoderSpec(kind="rnnt")).arch_id,
        dataclasses.replace(base, streaming=StreamingSpec()).arch_id,
    }
    assert len(ids) == 9


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"frontend": "wav2vec"}, "ArchSpec.frontend='wav2vec'"),
        ({"subsampling_factor": 5}, "ArchSpec.subsampling_factor=5"),
        ({"encoder": "mamba"}, "ArchSpec.encoder='mamba'"),
        ({"dropout": 1.5}, "ArchSpec.dropout=1.5"),
        ({"time_reduction_layer": 3}, "ArchSpec.time_reduction_layer=3"),
        ({"layers": ()}, "ArchSpec.layers"),
        ({"layers": (LayerSpec(width=120, heads=16),)}, "ArchSpec.layers[0].heads=16"),
        ({"encoder": "blstm", "streaming": StreamingSpec()}, "blstm"),
        ({"attention": "linear", "streaming": StreamingSpec()}, "linear"),
        (
            {"decoder": DecoderSpec(kind="aed_lstm"), "streaming": StreamingSpec()},
            "ArchSpec.decoder.kind='aed_lstm'",
        ),
    ],
)
def test_validation_names_field_and_value(change: dict[str, object], field: str) -> None:
    base = ArchSpec.uniform(num_layers=3, width=96, heads=4)
    with pytest.raises(ValueError) as err:
        dataclasses.replace(base, **change)  # type: ignore[arg-type]
    assert field in str(err.value)


def test_nested_validation_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="kernel=4"):
        LayerSpec(kernel=4)
    with pytest.raises(ValueError, match="StreamingSpec.chunk=0"):
        StreamingSpec(chunk=0)
    with pytest.raises(ValueError, match="DecoderSpec.kind='las'"):
        DecoderSpec(kind="las")
    data = PRESETS["conformer-ctc-s"].to_dict()
    data["layers"][1]["kernal"] = 5
    with pytest.raises(ValueError, match=r"ArchSpec.layers\[1\].*kernal"):
        ArchSpec.from_dict(data)
    with pytest.raises(ValueError, match="unknown field"):
        ArchSpec.from_dict({"depth": 3})


def test_derived_facts() -> None:
    spec = dataclasses.replace(
        ArchSpec.uniform(num_layers=4, width=96, heads=4, subsampling_factor=8),
        time_reduction_layer=2,
    ).with_layer(0, skip=True)
    assert spec.stem_factor == 4
    assert spec.reduction_position == 1
    assert spec.frame_ms == 80
    assert len(spec.kept_layers) == 3
    assert "conformer x3" in spec.summary()
