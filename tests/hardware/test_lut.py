from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch import nn

from speechnas.arch import ArchSpec, StreamingSpec
from speechnas.errors import UserError
from speechnas.hardware import TorchCPUTarget, lut
from speechnas.hardware.lut import LatencyTable, measure_parts, model_parts
from speechnas.hardware.measure import untrained_model

BASE = ArchSpec.uniform(num_layers=3, width=32, heads=2, ffn_expansion=2.0, kernel=5, n_mels=40)


def test_parts_follow_the_model() -> None:
    spec = ArchSpec.uniform(
        num_layers=4,
        width=32,
        heads=2,
        ffn_expansion=2.0,
        kernel=5,
        n_mels=40,
        subsampling_factor=8,
        time_reduction_layer=2,  # a mid-encoder reduction before layer 2
        streaming=StreamingSpec(chunk=4, left_context=8, lookahead=2),
    )
    parts = model_parts(untrained_model(spec), spec, 5.0)
    kinds = [p.kind for p in parts]
    assert kinds[:3] == ["frontend", "stem:conv2d", "lookahead"]
    assert kinds.count("layer:conformer:rel") == 4 and kinds.count("reduction") == 1
    assert kinds[-2:] == ["encoder-glue", "head:ctc"]
    layers = [p for p in parts if p.kind.startswith("layer")]
    assert layers[-1].frames < layers[0].frames  # after the reduction
    # Layers 0 and 1 are alike, and so are 2 and 3 (at half the frame rate).
    assert len({p.signature for p in parts}) == len(parts) - 2


def test_a_shared_layer_shares_its_signature() -> None:
    wider = BASE.with_layer(2, width=64)
    a = model_parts(untrained_model(BASE), BASE, 5.0)
    b = model_parts(untrained_model(wider), wider, 5.0)
    assert [p.signature for p in a[:4]] == [p.signature for p in b[:4]]  # up to layer 2
    assert a[4].signature != b[4].signature  # the changed layer
    assert a[-1].signature != b[-1].signature  # the head sees a wider input


class _WorkClock:
    """A stand-in for ``time.perf_counter`` that moves only when a leaf module of ``model``
    finishes a forward (1 ms each): what the parts measure is then the model's work, the
    same on any machine, and every run gives the same times."""

    def __init__(self, model: nn.Module) -> None:
        self.now = 0.0
        for module in model.modules():
            if next(module.children(), None) is None:
                module.register_forward_hook(self._tick)

    def _tick(self, *_: object) -> None:
        self.now += 1e-3

    def perf_counter(self) -> float:
        return self.now


def test_parts_add_up_to_the_whole_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything between the call and its return is some part's: the timed modules', the
    encoder's glue between them, and the head with its decoding."""
    model = untrained_model(BASE)
    clock = _WorkClock(model)  # its hooks run before measure_parts' own, as they come first
    monkeypatch.setattr(lut, "time", clock)
    parts, ms, total = measure_parts(model, BASE, audio_s=1.0, warmup=1, repeats=3)
    assert [p.signature for p in parts] == [p.signature for p in model_parts(model, BASE, 1.0)]
    assert len(ms) == len(parts) and total > 0
    assert sum(ms) == pytest.approx(total)
    glue = [p.kind for p in parts].index("encoder-glue")
    assert all(m > 0 for i, m in enumerate(ms) if i != glue), ms  # each part runs a module
    assert ms[glue] >= 0


def _table() -> LatencyTable:
    table = LatencyTable(TorchCPUTarget(1).describe(), audio_s=1.0)
    for spec in (BASE, BASE.with_layer(0, width=64), BASE.with_layer(1, kernel=3)):
        parts, ms, total = measure_parts(untrained_model(spec), spec, audio_s=1.0, repeats=2)
        table.add(spec, parts, ms, total)
    return table


def test_table_estimates_seen_and_unseen_models(tmp_path: Path) -> None:
    table = _table()
    seen = model_parts(untrained_model(BASE), BASE, 1.0)
    estimate, hits = table.estimate(seen)
    assert hits == 1.0
    assert estimate == pytest.approx(sum(table.lookup(p) or 0.0 for p in seen))
    new = BASE.with_layer(2, width=96)
    estimate, hits = table.estimate(model_parts(untrained_model(new), new, 1.0))
    assert 0 < hits < 1 and estimate > 0
    path = table.save(tmp_path / "lut.json")
    again = LatencyTable.load(path)
    assert json.dumps(again.to_dict()) == json.dumps(table.to_dict())
    assert len(again) == len(table)


def test_bad_tables_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        LatencyTable.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not a readable"):
        LatencyTable.load(bad)
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(UserError, match="version 99"):
        LatencyTable.load(bad)
    with pytest.raises(ValueError, match="empty"):
        LatencyTable({}, 1.0).estimate(model_parts(untrained_model(BASE), BASE, 1.0))
