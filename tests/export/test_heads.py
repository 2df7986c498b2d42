"""Every head kind's ONNX graphs (the :class:`~speechnas.export.heads.HeadGraphs` contract).

Each graph matches its PyTorch module within 1e-4 (float32 rounding of reordered sums) at
lengths and a batch size other than the traced ones; the recogniser's greedy search over
the graphs gives the model's own token ids; the INT8 and FP16 copies run; a bundle exports
and scores every head kind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from speechnas.arch import ArchSpec, DecoderSpec, StreamingSpec
from speechnas.errors import UserError
from speechnas.export import (
    OnnxRecognizer,
    export_onnx,
    graph_file,
    head_graphs,
    lower_graphs,
    onnx_session,
)
from speechnas.hardware import make_target, profile_model
from speechnas.models import SpeechModel, build_model
from speechnas.models._head import Head
from speechnas.testing.export import small_bundle
from speechnas.testing.models import eval_model

VOCAB = 12
FP32_TOL = 1e-4
_SMALL = {"encoder": "cnn", "kernel": 5, "num_layers": 2, "width": 32, "n_mels": 40}

HEADS = {
    "ctc": DecoderSpec(),
    "rnnt-lstm": DecoderSpec(kind="rnnt", predictor="lstm", dim=16),
    "rnnt-stateless": DecoderSpec(kind="rnnt", predictor="stateless", dim=16),
    "aed-transformer": DecoderSpec(kind="aed_transformer", dim=16, heads=2, num_layers=2),
    "aed-lstm": DecoderSpec(kind="aed_lstm", dim=16, num_layers=2),
}


# A shift of the blank's (eos's) output bias that makes these seeded models emit a mix of
# tokens and blanks (stop at eos for some utterances, at the length cap for others): random
# weights tend to do one thing everywhere.
_ID0_SHIFT = {"rnnt-lstm": 0.0, "rnnt-stateless": 1.4, "aed-transformer": 0.0, "aed-lstm": 0.2}


def _model(kind: str) -> SpeechModel:
    model = eval_model(ArchSpec.uniform(decoder=HEADS[kind], **_SMALL), VOCAB, seed=0)
    with torch.no_grad():
        if kind.startswith("rnnt"):
            model.head.out.bias[0] += _ID0_SHIFT[kind]
        elif kind.startswith("aed"):
            model.head.decoder.out.bias[0] += _ID0_SHIFT[kind]
    return model


def _waves() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(2)
    lengths = [16000, 9000, 12345, 4000]
    wave = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wave[i, :n] = 0.1 * torch.randn(n, generator=g)
    return wave, torch.tensor(lengths)


@pytest.fixture(scope="module", params=sorted(HEADS))
def exported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, SpeechModel, Path]:
    kind = request.param
    model = _model(kind)
    path = export_onnx(model, tmp_path_factory.mktemp(kind) / "model.onnx", example_frames=120)
    return kind, model, path


def test_every_graph_matches_its_module(exported: tuple[str, SpeechModel, Path]) -> None:
    _, model, path = exported
    graphs = head_graphs(model).graphs()
    assert graphs[0].name == "" and graphs[0].input_names == ["feats"]
    for graph in graphs:
        session = onnx_session(graph_file(path, graph.name), threads=1)
        for frames, batch in ((37, 1), (613, 1), (41, 3)):
            args = graph.example(frames, batch)
            with torch.no_grad():
                want = graph.module(*args)
            want = want if isinstance(want, tuple) else (want,)
            feeds = {n: a.numpy() for n, a in zip(graph.input_names, args, strict=True)}
            got = session.run(None, feeds)
            assert len(got) == len(want) == len(graph.output_names)
            for w, h in zip(want, got, strict=True):
                assert h.shape == tuple(w.shape), (graph.name, frames, batch)
                assert float(np.abs(h - w.numpy()).max(initial=0.0)) < FP32_TOL


def test_decoder_graph_matches_from_its_first_step(
    exported: tuple[str, SpeechModel, Path],
) -> None:
    """An attention decoder's first steps (an empty, then a one-position cache) exactly."""
    kind, model, path = exported
    if not kind.startswith("aed"):
        pytest.skip("attention decoders only")
    graphs = head_graphs(model)
    step = graphs.graphs()[1]
    session = onnx_session(graph_file(path, step.name), threads=1)
    for steps in (0, 1):
        token, state = graphs._state(9, steps, seed=3, batch=1)  # type: ignore[attr-defined]
        args = (token, *(state[n] for n in step.input_names[1:]))
        with torch.no_grad():
            want = step.module(*args)
        feeds = {n: a.numpy() for n, a in zip(step.input_names, args, strict=True)}
        got = session.run(None, feeds)
        for w, h in zip(want, got, strict=True):
            assert h.shape == tuple(w.shape)
            assert float(np.abs(h - w.numpy()).max(initial=0.0)) < FP32_TOL


def test_recognizer_transcribes_like_the_model(exported: tuple[str, SpeechModel, Path]) -> None:
    kind, model, path = exported
    wave, lens = _waves()
    with torch.no_grad():
        expected = model.transcribe_ids(wave, lens)
    assert OnnxRecognizer(model, path).transcribe_ids(wave, lens) == expected
    # The search ran both ways: tokens came out, and a hypothesis stopped early (at eos, or
    # a transducer below its per-frame cap on every frame).
    assert any(expected)
    with torch.no_grad():
        _, enc_lens = model.encoder(*model.frontend(wave, lens))
    if kind.startswith("aed"):
        limits = [model.head.max_len(int(n)) for n in enc_lens]
    else:
        cap = model.head.max_symbols_per_frame if kind.startswith("rnnt") else 1
        limits = [cap * int(n) for n in enc_lens]
    assert any(len(e) < n for e, n in zip(expected, limits, strict=True))


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_lower_precision_copies_run(
    exported: tuple[str, SpeechModel, Path], precision: str, tmp_path: Path
) -> None:
    kind, model, path = exported
    names = head_graphs(model).names
    lower = lower_graphs(path, tmp_path / f"model.{precision}.onnx", precision, names)
    assert all(graph_file(lower, name).is_file() for name in names)
    wave, lens = _waves()
    ids = OnnxRecognizer(model, lower).transcribe_ids(wave, lens)
    assert len(ids) == len(lens) and all(0 < t < VOCAB for hyp in ids for t in hyp)
    if precision == "fp16":  # close in value; an argmax at this knife's edge may flip
        feats = torch.randn(1, 120, model.frontend.num_features)
        full = OnnxRecognizer(model, path).log_probs(feats)
        assert np.abs(OnnxRecognizer(model, lower).log_probs(feats) - full).max() < 0.1


def test_a_head_kind_without_graphs_is_refused(tmp_path: Path) -> None:
    class _Other(Head):
        def loss(self, enc: Tensor, enc_lens: Tensor, t: Tensor, t_lens: Tensor) -> Tensor:
            return enc.sum()

        def greedy_decode(self, enc: Tensor, enc_lens: Tensor) -> list[list[int]]:
            return [[] for _ in enc_lens]

        def beam_decode(
            self, enc: Tensor, enc_lens: Tensor, beam_size: int = 4
        ) -> list[list[int]]:
            return [[] for _ in enc_lens]

        def macs(self, num_frames: int, num_tokens: int) -> int:
            return 0

    model = _model("ctc")
    model.head = _Other()
    with pytest.raises(UserError, match="_Other"):
        export_onnx(model, tmp_path / "m.onnx")


@pytest.mark.parametrize("kind", ["rnnt-lstm", "aed-transformer"])
def test_bundle_exports_and_scores_every_head_kind(kind: str, tmp_path: Path) -> None:
    spec = ArchSpec.uniform(decoder=HEADS[kind], **_SMALL)
    model, report, out = small_bundle(spec, tmp_path, ("int8",))
    assert [v.name for v in report.variants] == ["pytorch", "onnx-int8"]
    names = head_graphs(model).names
    assert len(names) > 1
    for name in names:  # the INT8 graphs are kept, the FP32 ones they came from are not
        assert graph_file(out / "model.int8.onnx", name).is_file()
        assert not graph_file(out / "model.onnx", name).exists()
    deploy = json.loads((out / "deploy.json").read_text())
    assert deploy["decoding"]["head"] == kind.split("-")[0]
    assert set(deploy["decoding"]["graphs"]) == set(names)
    files = deploy["graph_files"]["int8"]
    assert all((out / files[name]).is_file() for name in names)
    int8 = report.variant("onnx-int8")
    assert int8.size_mb * 1e6 == sum((out / f).stat().st_size for f in files.values())
    scores = report.variant("onnx-int8").scores["dev"]
    assert scores["utterances"] == 3 and np.isfinite(scores["wer"])


def test_onnx_target_times_a_streaming_transducer_whole_and_chunk_by_chunk(
    tmp_path: Path,
) -> None:
    target = make_target("cpu-onnx-int8", 1)
    if target.unavailable():
        pytest.skip(str(target.unavailable()))
    spec = ArchSpec.uniform(
        decoder=HEADS["rnnt-stateless"],
        streaming=StreamingSpec(chunk=4, left_context=8, lookahead=0),
        **_SMALL,
    )
    torch.manual_seed(0)
    model = build_model(spec, vocab_size=VOCAB, specaugment=False).eval()
    profile = profile_model(model, spec, target, lengths_s=(1.0,), repeats=2, workdir=tmp_path)
    assert profile.utterances[0].median_ms > 0
    assert profile.streaming is not None and profile.streaming.compute_median_ms > 0
    parts, ms, total = target.measure_parts(
        model, spec, audio_s=1.0, warmup=1, repeats=1, workdir=tmp_path
    )
    assert parts[-1].kind == "head:rnnt" and ms[-1] > 0 and sum(ms) == pytest.approx(total)
