"""Every target with latency tables keeps the part-timing contract of
:meth:`~speechnas.hardware.Target.measure_parts`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from speechnas.arch import ArchSpec, DecoderSpec, StreamingSpec
from speechnas.errors import UserError
from speechnas.hardware import TARGETS, Target, TorchCUDATarget
from speechnas.hardware.lut import LatencyTable, Part, model_parts
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.tables import profile_table
from speechnas.timing import threads

#: Targets whose parts are timed (a CUDA table would need a GPU to profile on).
PART_TARGETS = sorted(n for n in TARGETS if n != "cuda-torch")
SPEC = ArchSpec.uniform(
    num_layers=2,
    width=32,
    heads=2,
    ffn_expansion=2.0,
    kernel=5,
    n_mels=40,
    streaming=StreamingSpec(chunk=4, left_context=8, lookahead=2),
)
Measured = tuple[Target, list[Part], list[float], float]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workdir for every ONNX target: the FP32 graph is exported once."""
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture(scope="module", params=PART_TARGETS)
def measured(request: pytest.FixtureRequest, exported: Path) -> Measured:
    target: Target = TARGETS[request.param](1)
    why = target.unavailable()
    if why is not None:
        pytest.skip(f"{target.name}: {why}")
    # One timed run: its medians are that run's own times, so how the parts relate to the
    # whole is a matter of values, not of how steady the machine is.
    with threads(1):
        parts, ms, total = target.measure_parts(
            untrained_model(SPEC), SPEC, audio_s=1.0, warmup=1, repeats=1, workdir=exported
        )
    return target, parts, ms, total


def test_parts_are_the_models_and_add_up_to_the_whole_run(measured: Measured) -> None:
    """The parts split the run: none is negative or missing, and together they claim no
    more than the whole. That they cover all of it is checked where the clock can be
    controlled (``tests/hardware/test_lut.py``) or where it holds exactly (ONNX, below);
    how close medians of many runs come is the latency benchmark's."""
    target, parts, ms, total = measured
    assert [p.signature for p in parts] == [
        p.signature for p in model_parts(untrained_model(SPEC), SPEC, 1.0)
    ]
    assert len(ms) == len(parts) and all(math.isfinite(m) and m >= 0 for m in ms)
    timed = [m for p, m in zip(parts, ms, strict=True) if p.kind != "encoder-glue"]
    assert all(m > 0 for m in timed), (target.name, ms)
    assert math.isfinite(total) and sum(ms) <= total * (1 + 1e-9), (target.name, ms, total)


def test_onnx_parts_add_up_to_the_whole_run_exactly(measured: Measured) -> None:
    """ONNX Runtime targets hand the whole graph call to its kernels' parts, and the front-end
    and the search to the first and last parts: one run's parts are all of it."""
    target, _, ms, total = measured
    if not target.name.startswith("cpu-onnx"):
        pytest.skip("ONNX Runtime targets only")
    assert sum(ms) == pytest.approx(total), (target.name, ms, total)


def test_a_table_round_trips_and_refuses_other_targets(measured: Measured, tmp_path: Path) -> None:
    target, parts, ms, total = measured
    table = LatencyTable(target.describe(), audio_s=1.0)
    table.add(SPEC, parts, ms, total)
    again = LatencyTable.load(table.save(tmp_path / "lut.json"))
    assert json.dumps(again.to_dict()) == json.dumps(table.to_dict())
    again.check_target(target.describe())
    estimate, hits = again.estimate(parts)
    assert hits == 1.0 and estimate == pytest.approx(sum(ms))
    for other in PART_TARGETS:
        if other != target.name:
            with pytest.raises(UserError, match=target.name):
                again.check_target(TARGETS[other](1).describe(), source="lut.json")
    with pytest.raises(UserError, match="2 thread"):
        again.check_target(TARGETS[target.name](2).describe())
    with pytest.raises(UserError, match="not"):
        profile_table([SPEC], TARGETS[target.name](2), audio_s=1.0, table=again)


def test_onnx_kernels_are_attributed_to_the_parts(measured: Measured, exported: Path) -> None:
    import onnx

    from speechnas.hardware.onnx_parts import node_parts

    target = measured[0]
    if not target.name.startswith("cpu-onnx"):
        pytest.skip("ONNX Runtime targets only")
    precision = target.describe()["precision"]
    name = "model" if precision == "fp32" else f"model.{precision}"
    model = untrained_model(SPEC)
    labels = node_parts(
        model,
        onnx.load(str(exported / f"{name}.onnx")),
        onnx.load(str(exported / f"{name}.ort.onnx")),
    )
    parts = model_parts(model, SPEC, 1.0)
    found = {parts[i].kind for i in labels.values()}
    assert {"stem:conv2d", "lookahead", "layer:conformer:rel", "head:ctc"} <= found
    layers = [i for i, p in enumerate(parts) if p.kind.startswith("layer")]
    assert all(i in labels.values() for i in layers)  # each layer, not only the first
    glue = sum(parts[i].kind == "encoder-glue" for i in labels.values())
    assert glue <= 0.05 * len(labels)  # little is left unattributed
    _input_nodes_are_not_the_head(exported / f"{name}.ort.onnx", labels, len(parts) - 1)


#: A transducer and an attention decoder: heads whose decoding runs graphs after the first.
OTHER_HEADS = [
    ArchSpec.uniform(
        encoder="cnn", num_layers=1, width=16, kernel=3, n_mels=40, decoder=DecoderSpec("rnnt")
    ),
    ArchSpec.uniform(
        num_layers=1,
        width=16,
        heads=2,
        ffn_expansion=2.0,
        kernel=3,
        n_mels=40,
        decoder=DecoderSpec(kind="aed_transformer", dim=32, num_layers=1, heads=2),
    ),
]


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
@pytest.mark.parametrize("spec", OTHER_HEADS, ids=lambda s: s.decoder.kind)
def test_onnx_parts_of_every_head_kind(spec: ArchSpec, tmp_path: Path) -> None:
    """A transducer's and an attention decoder's ONNX parts: the first graph split kernel by
    kernel (the head's own first products, e.g. a transducer's encoder projection, are the
    head's), and the decoding over the other graphs counted for the head."""
    import onnx

    from speechnas.hardware.onnx_parts import node_parts

    target = TARGETS["cpu-onnx"](1)
    if target.unavailable() is not None:
        pytest.skip(f"cpu-onnx: {target.unavailable()}")
    model = untrained_model(spec)
    with threads(1):
        parts, ms, total = target.measure_parts(
            model, spec, audio_s=1.0, warmup=1, repeats=1, workdir=tmp_path
        )
    assert [p.signature for p in parts] == [p.signature for p in model_parts(model, spec, 1.0)]
    assert all(m > 0 for p, m in zip(parts, ms, strict=True) if p.kind != "encoder-glue")
    assert sum(ms) == pytest.approx(total)
    labels = node_parts(
        model, onnx.load(str(tmp_path / "model.onnx")), onnx.load(str(tmp_path / "model.ort.onnx"))
    )
    found = {parts[i].kind for i in labels.values()}
    assert f"head:{spec.decoder.kind}" in found and any(k.startswith("layer") for k in found)
    _input_nodes_are_not_the_head(tmp_path / "model.ort.onnx", labels, len(parts) - 1)


def _input_nodes_are_not_the_head(optimized: Path, labels: dict[str, int], head: int) -> None:
    """Nodes that read the features (the stem's, the input's shape) are not the head's:
    nodes traced outside any module take their part from the data flow."""
    import onnx

    from speechnas.export.onnx import INPUT_NAME

    readers = [n.name for n in onnx.load(str(optimized)).graph.node if INPUT_NAME in n.input]
    assert readers and all(labels[name] != head for name in readers)


def test_a_model_a_target_cannot_run_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from speechnas.export import ExportError
    from speechnas.hardware.targets import OnnxCPUTarget

    def fails(*args: object, **kwargs: object) -> None:
        raise ExportError("torch.export failed for this architecture")

    monkeypatch.setattr(OnnxCPUTarget, "_export", fails)
    seen: list[float | None] = []
    table = profile_table(
        [OTHER_HEADS[0]],
        TARGETS["cpu-onnx"](1),
        audio_s=1.0,
        repeats=1,
        on_model=lambda i, spec, ms: seen.append(ms),
    )
    assert seen == [None] and not table.models


def test_a_target_without_part_timing_says_so(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cuda-torch"):
        TorchCUDATarget(1).measure_parts(untrained_model(SPEC), SPEC, workdir=tmp_path)
