"""Streaming ONNX export: the chunk step, streamed with its state, computes the whole model.

Tolerance: streamed FP32 log-probabilities match PyTorch's whole-utterance ones within 1e-4
(absolute; float32 rounding of reordered sums), at lengths that end inside a chunk, so the
first chunk, steady chunks, a partial last chunk and the look-ahead's flush steps all count.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from speechnas.arch import ArchSpec, DecoderSpec, StreamingSpec
from speechnas.errors import UserError
from speechnas.export import EncoderCTC, ExportError
from speechnas.export.streaming import (
    ChunkSchedule,
    OnnxStreamingRecognizer,
    StreamStep,
    export_streaming,
    run_stream,
    torch_step_fn,
)
from speechnas.models import SpeechModel
from speechnas.models.aed import AEDHead
from speechnas.models.ctc import CTCHead
from speechnas.testing.export import small_bundle
from speechnas.testing.models import eval_model

VOCAB = 12
FP32_TOL = 1e-4
_SMALL: dict[str, Any] = {"n_mels": 40, "width": 32}


def _stream(chunk: int, lookahead: int = 0, left: int = 8) -> StreamingSpec:
    return StreamingSpec(chunk=chunk, left_context=left, lookahead=lookahead)


# Every streaming family; look-ahead, a mid-encoder reduction and both stems among them.
FAMILIES = {
    "cnn+lookahead": ArchSpec.uniform(
        encoder="cnn", num_layers=2, kernel=5, norm="batchnorm", streaming=_stream(4, 3), **_SMALL
    ),
    "lstm": ArchSpec.uniform(encoder="lstm", num_layers=2, streaming=_stream(4), **_SMALL),
    # Look-ahead of exactly one chunk: a delay and no buffered frames.
    "lstm+lookahead=chunk": ArchSpec.uniform(
        encoder="lstm", num_layers=2, streaming=_stream(4, 4), **_SMALL
    ),
    "cnn_lstm+lookahead": ArchSpec.uniform(
        encoder="cnn_lstm", num_layers=2, kernel=5, streaming=_stream(3, 5), **_SMALL
    ),
    "transformer-abs": ArchSpec.uniform(
        encoder="transformer",
        num_layers=2,
        heads=2,
        ffn_expansion=2.0,
        attention="abs",
        streaming=_stream(4),
        **_SMALL,
    ),
    "conformer-rel+reduction+lookahead": ArchSpec.uniform(
        num_layers=3,
        heads=2,
        ffn_expansion=2.0,
        kernel=5,
        attention="rel",
        time_reduction_layer=1,
        streaming=_stream(3, 2, left=6),
        **_SMALL,
    ),
    "conformer-local-conv1d": ArchSpec.uniform(
        num_layers=2,
        heads=2,
        ffn_expansion=2.0,
        kernel=5,
        attention="local",
        attention_window=4,
        subsampling="conv1d",
        streaming=_stream(4),
        **_SMALL,
    ),
    # Per-layer blocks: attention only, then convolution only.
    "conformer-blocks": ArchSpec.uniform(
        num_layers=2,
        heads=2,
        ffn_expansion=2.0,
        kernel=5,
        attention="rel",
        streaming=_stream(4),
        **_SMALL,
    )
    .with_layer(0, block="attention")
    .with_layer(1, block="conv"),
}


def _model(spec: ArchSpec, seed: int = 0) -> SpeechModel:
    return eval_model(spec, VOCAB, seed)


def _whole(model: SpeechModel, feats: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return EncoderCTC(model).eval()(feats).numpy()  # type: ignore[no-any-return]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_streamed_graph_matches_the_whole_model(family: str, tmp_path: Path) -> None:
    model = _model(FAMILIES[family])
    path = export_streaming(model, tmp_path / "stream.onnx")
    recognizer = OnnxStreamingRecognizer(model, path, threads=1)
    g = torch.Generator().manual_seed(1)
    for frames in (37, 120, 203):
        feats = torch.randn(1, frames, model.frontend.num_features, generator=g)
        expected = _whole(model, feats)
        got = recognizer.log_probs(feats.numpy())
        assert got.shape == expected.shape, (frames, got.shape, expected.shape)
        assert float(np.abs(got - expected).max()) < FP32_TOL, frames


def test_a_chunk_without_speech_leaves_the_layers_alone() -> None:
    step = StreamStep(_model(FAMILIES["conformer-rel+reduction+lookahead"]))
    state = step.initial_state()
    feats = torch.randn(1, step.feature_chunk, step.features)
    zero = torch.tensor(0)
    with torch.no_grad():
        _, *after = step(feats, torch.tensor(step.chunk), zero, zero, *state)
    moved = [not torch.equal(a, b) for a, b in zip(after, state, strict=True)]
    layers = step.layer_state_count
    assert 0 < layers < len(state)
    assert any(moved[:-layers])  # the stem's history and the look-ahead move on
    assert not any(moved[-layers:])  # attention caches, positions, convolutions do not


def test_schedule_covers_the_utterance_and_the_lookahead_delay() -> None:
    step = StreamStep(_model(FAMILIES["cnn_lstm+lookahead"]))
    assert step.delay == 2  # 5 frames of look-ahead with 3-frame chunks
    schedule = ChunkSchedule.for_utterance(step, 50)
    stem_frames = step.encoder.frames_after_stem(50)
    assert sum(s[3] for s in schedule.steps) == step.encoder.output_frames(50)
    assert sum(s[0] for s in schedule.steps) == stem_frames
    assert [s[2] for s in schedule.steps[: step.delay]] == [0, 0]  # waiting for look-ahead


def test_streamed_module_matches_the_encoders_own_stream() -> None:
    model = _model(FAMILIES["transformer-abs"])
    step = StreamStep(model)
    feats = torch.randn(1, 3 * step.feature_chunk, step.features)
    schedule = ChunkSchedule.for_utterance(step, feats.shape[1])
    state = [s.numpy() for s in step.initial_state()]
    got = run_stream(torch_step_fn(step), schedule, feats.numpy(), state)
    head = model.head
    assert isinstance(head, CTCHead)
    with torch.no_grad():
        expected = head.log_probs(model.encoder.stream(feats)).numpy()
    assert float(np.abs(got - expected).max()) < FP32_TOL


def test_recognizer_transcribes_like_the_model(tmp_path: Path) -> None:
    model = _model(FAMILIES["conformer-rel+reduction+lookahead"])
    path = export_streaming(model, tmp_path / "stream.onnx")
    g = torch.Generator().manual_seed(2)
    lengths = [16000, 9000, 12345, 300]  # the last is shorter than one feature window
    wave = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wave[i, :n] = 0.1 * torch.randn(n, generator=g)
    lens = torch.tensor(lengths)
    with torch.no_grad():
        expected = model.transcribe_ids(wave, lens)
    assert OnnxStreamingRecognizer(model, path).transcribe_ids(wave, lens) == expected


def test_only_streaming_models_of_streaming_heads_stream(tmp_path: Path) -> None:
    full = ArchSpec.uniform(encoder="cnn", num_layers=2, kernel=5, **_SMALL)
    with pytest.raises(UserError, match="full-context"):
        export_streaming(_model(full), tmp_path / "m.onnx")
    model = _model(FAMILIES["lstm"])
    model.head = AEDHead(d_model=32, vocab_size=VOCAB, dim=16, heads=2)
    with pytest.raises(UserError, match="whole utterance"):
        export_streaming(model, tmp_path / "m.onnx")


TRANSDUCERS = {
    "lstm-stateless": ArchSpec.uniform(
        encoder="lstm",
        num_layers=2,
        streaming=_stream(4),
        decoder=DecoderSpec(kind="rnnt", predictor="stateless", dim=16),
        **_SMALL,
    ),
    "conformer+lookahead-lstm": dataclasses.replace(
        FAMILIES["conformer-rel+reduction+lookahead"],
        decoder=DecoderSpec(kind="rnnt", predictor="lstm", dim=16),
    ),
}


@pytest.mark.parametrize("name", sorted(TRANSDUCERS))
def test_a_streamed_transducer_transcribes_like_the_model(name: str, tmp_path: Path) -> None:
    model = _model(TRANSDUCERS[name])
    with torch.no_grad():
        model.head.out.bias[0] -= 1.0  # the blank: emit tokens, not only blanks
    path = export_streaming(model, tmp_path / "model.stream.onnx")
    for graph in ("predictor", "joiner"):  # the search's graphs, beside the chunk step
        assert (tmp_path / f"model.stream.{graph}.onnx").is_file()
    recognizer = OnnxStreamingRecognizer(model, path, threads=1)
    feats = torch.randn(
        1, 203, model.frontend.num_features, generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        lens = torch.tensor([203])
        whole = model.head.enc_proj(model.encoder(feats, lens)[0]).numpy()
    streamed = recognizer.log_probs(feats.numpy())  # the projected frames
    assert streamed.shape == whole.shape and float(np.abs(streamed - whole).max()) < FP32_TOL
    g = torch.Generator().manual_seed(2)
    lengths = [16000, 9000, 300]
    wave = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wave[i, :n] = 0.1 * torch.randn(n, generator=g)
    lens = torch.tensor(lengths)
    with torch.no_grad():
        expected = model.transcribe_ids(wave, lens)
    assert any(expected)
    assert recognizer.transcribe_ids(wave, lens) == expected


def test_bundle_of_a_streaming_model_streams_every_precision(tmp_path: Path) -> None:
    _, report, out = small_bundle(FAMILIES["cnn+lookahead"], tmp_path, ("fp32", "int8"))
    names = [v.name for v in report.variants]
    assert names == ["pytorch", "onnx-fp32", "onnx-int8", "onnx-stream-fp32", "onnx-stream-int8"]
    streamed = report.variant("onnx-stream-fp32")
    assert streamed.scores["dev"] == report.variant("pytorch").scores["dev"]
    # A chunk step is timed apart from the whole utterance (which is many chunk steps): how
    # the two compare in time is the benchmarks' (BENCHMARKS.md), not a test's.
    assert streamed.chunk_ms is not None and streamed.chunk_p90_ms is not None
    assert 0 < streamed.chunk_ms <= streamed.chunk_p90_ms < math.inf
    assert (out / "model.stream.int8.onnx").is_file()
    deploy = json.loads((out / "deploy.json").read_text())
    assert deploy["stream"]["delay_chunks"] == 1


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_bundle_of_a_streaming_transducer_streams_with_its_search_graphs(tmp_path: Path) -> None:
    _, report, out = small_bundle(TRANSDUCERS["lstm-stateless"], tmp_path, ("fp32", "int8"))
    names = [v.name for v in report.variants]
    assert names == ["pytorch", "onnx-fp32", "onnx-int8", "onnx-stream-fp32", "onnx-stream-int8"]
    streamed = report.variant("onnx-stream-fp32")
    assert streamed.scores["dev"] == report.variant("pytorch").scores["dev"]
    assert streamed.chunk_ms is not None and streamed.chunk_ms > 0
    deploy = json.loads((out / "deploy.json").read_text())
    files = deploy["stream"]["graph_files"]["int8"]
    assert set(files) == {"", "predictor", "joiner"}
    assert all((out / f).is_file() for f in files.values())


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_failed_stream_export_leaves_nothing_and_search_graphs_are_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechnas.export import export_onnx, streaming

    model = _model(TRANSDUCERS["lstm-stateless"])
    whole = export_onnx(model, tmp_path / "model.onnx", example_frames=120)
    path = export_streaming(model, tmp_path / "model.stream.onnx", search_graphs_of=whole)
    for graph in ("predictor", "joiner"):  # copied from the whole-utterance export
        copied = (tmp_path / f"model.stream.{graph}.onnx").read_bytes()
        assert copied == (tmp_path / f"model.{graph}.onnx").read_bytes()
    assert OnnxStreamingRecognizer(model, path).log_probs(np.zeros((1, 40, 40), np.float32)).size

    def fail(step: StreamStep, out: Path) -> None:
        raise ExportError("the chunk step failed")

    monkeypatch.setattr(streaming, "_write_chunk_step", fail)
    with pytest.raises(ExportError, match="chunk step failed"):
        export_streaming(model, tmp_path / "again" / "model.stream.onnx")
    assert not list((tmp_path / "again").iterdir())
