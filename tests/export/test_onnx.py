"""ONNX export: the exported graph computes what the PyTorch model computes.

Tolerance: FP32 graphs match PyTorch's log-probabilities within 1e-4 (absolute, float32
rounding of reordered sums); FP16 within 0.1 (half precision over a few layers); INT8 is
checked for shape, finiteness and a bounded change, since quantisation changes values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.export import (
    EncoderCTC,
    OnnxRecognizer,
    export_onnx,
    to_fp16,
    to_int8,
)
from speechnas.models import SpeechModel
from speechnas.testing.models import eval_model

VOCAB = 12
FP32_TOL = 1e-4
_SMALL = {"num_layers": 2, "width": 32, "n_mels": 40}

# Every encoder family and every full-context attention kind.
FAMILIES = {
    "cnn": ArchSpec.uniform(encoder="cnn", kernel=5, norm="batchnorm", **_SMALL),
    "lstm": ArchSpec.uniform(encoder="lstm", **_SMALL),
    "blstm": ArchSpec.uniform(encoder="blstm", **_SMALL),
    "cnn_lstm": ArchSpec.uniform(encoder="cnn_lstm", kernel=5, **_SMALL),
    "transformer-abs": ArchSpec.uniform(
        encoder="transformer", heads=2, ffn_expansion=2.0, attention="abs", **_SMALL
    ),
    "conformer-rel": ArchSpec.uniform(
        heads=2, ffn_expansion=2.0, kernel=5, attention="rel", subsampling="conv1d", **_SMALL
    ),
    "conformer-local": ArchSpec.uniform(
        heads=2, ffn_expansion=2.0, kernel=5, attention="local", attention_window=8, **_SMALL
    ),
    "conformer-linear": ArchSpec.uniform(
        heads=2, ffn_expansion=2.0, kernel=5, attention="linear", **_SMALL
    ),
    # A mid-encoder reduction sees odd and even frame counts at the lengths below.
    "cnn-reduction": ArchSpec.uniform(
        encoder="cnn", kernel=5, subsampling_factor=8, time_reduction_layer=1, **_SMALL
    ),
}


def _model(spec: ArchSpec, seed: int = 0) -> SpeechModel:
    return eval_model(spec, VOCAB, seed)


def _max_diff(model: SpeechModel, path: Path, frames: tuple[int, ...]) -> float:
    runner = OnnxRecognizer(model, path, threads=1)
    reference = EncoderCTC(model).eval()
    worst = 0.0
    g = torch.Generator().manual_seed(1)
    for t in frames:
        feats = torch.randn(2, t, model.frontend.num_features, generator=g)
        with torch.no_grad():
            expected = reference(feats).numpy()
        got = runner.log_probs(feats)
        assert got.shape == expected.shape, (t, got.shape, expected.shape)
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


#: Over 10 s each: run by `make test-slow` (and CI).
_SLOW_FAMILIES = ("lstm", "blstm")


@pytest.mark.parametrize(
    "family",
    [
        pytest.param(f, marks=pytest.mark.slow) if f in _SLOW_FAMILIES else f
        for f in sorted(FAMILIES)
    ],
)
def test_fp32_graph_matches_pytorch_at_any_length(family: str, tmp_path: Path) -> None:
    model = _model(FAMILIES[family])
    path = export_onnx(model, tmp_path / "model.onnx", example_frames=120)
    # Lengths other than the traced one, including odd and much longer ones.
    assert _max_diff(model, path, (37, 41, 120, 613)) < FP32_TOL


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[SpeechModel, Path]:
    # Wide enough that weights, not graph structure, make up the file.
    model = _model(FAMILIES["conformer-rel"].with_layer(0, width=96).with_layer(1, width=96))
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


def test_recognizer_transcribes_like_the_model(exported: tuple[SpeechModel, Path]) -> None:
    model, path = exported
    g = torch.Generator().manual_seed(2)
    lengths = [16000, 9000, 12345]
    wave = torch.zeros(3, max(lengths))
    for i, n in enumerate(lengths):
        wave[i, :n] = 0.1 * torch.randn(n, generator=g)
    lens = torch.tensor(lengths)
    with torch.no_grad():
        expected = model.transcribe_ids(wave, lens)
    assert OnnxRecognizer(model, path).transcribe_ids(wave, lens) == expected


def test_int8_is_smaller_and_close(exported: tuple[SpeechModel, Path], tmp_path: Path) -> None:
    model, path = exported
    int8 = to_int8(path, tmp_path / "model.int8.onnx")
    assert int8.stat().st_size < 0.8 * path.stat().st_size
    diff = _max_diff(model, int8, (50, 300))
    assert np.isfinite(diff) and 0.0 < diff < 1.0


def test_fp16_is_close(exported: tuple[SpeechModel, Path], tmp_path: Path) -> None:
    model, path = exported
    fp16 = to_fp16(path, tmp_path / "model.fp16.onnx")
    assert fp16.stat().st_size < 0.7 * path.stat().st_size
    assert _max_diff(model, fp16, (50, 300)) < 0.1


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_repeated_lstm_exports_in_one_process_stay_dynamic(tmp_path: Path) -> None:
    """torch 2.13 can fix the length of a second LSTM export in one process without an error;
    the exporter checks every graph at other lengths and re-exports in a fresh process."""
    for i in range(2):
        model = _model(FAMILIES["blstm"], seed=i)
        path = export_onnx(model, tmp_path / f"m{i}.onnx", example_frames=120)
        assert _max_diff(model, path, (37, 613)) < FP32_TOL
