"""Export a trained model for deployment and measure what each precision costs and saves.

``export_bundle`` writes, into one folder:

* ``model.onnx`` (FP32) and, as asked, ``model.int8.onnx`` and ``model.fp16.onnx``; a
  transducer or attention decoder has the graphs of its search's steps beside each
  (``model.predictor.onnx``, ``model.int8.decoder.onnx``; :mod:`speechnas.export.heads`);
* for a streaming model (CTC or transducer) also the chunk step with its state,
  ``model.stream.onnx`` and its ``.int8``/``.fp16`` copies, with a transducer's search graphs
  beside each (see :mod:`speechnas.export.streaming`);
* ``deploy.json``: the architecture, the tokenizer and the front-end settings a runtime needs
  to turn audio into features and ids into text, and the graphs' search (``decoding``);
* ``export.json``: per variant (PyTorch, then each ONNX precision) its file size, measured CPU
  latency on ``latency_s`` seconds of audio, and WER/CER on every given test set; a streamed
  variant also has its compute per chunk.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from speechnas._provenance import run_info
from speechnas.arch import ArchSpec
from speechnas.data.manifest import Utterance
from speechnas.errors import UserError
from speechnas.evaluate.runner import evaluate_model
from speechnas.export.heads import graph_file, head_graphs
from speechnas.export.onnx import ExportError, export_onnx
from speechnas.export.quantize import PRECISIONS, lower_graphs
from speechnas.export.runtime import OnnxRecognizer
from speechnas.export.streaming import OnnxStreamingRecognizer, StreamStep, export_streaming
from speechnas.models import SpeechModel
from speechnas.recognizer import Recognizer
from speechnas.text import Tokenizer
from speechnas.timing import noise, threads, time_transcription, timing_of

__all__ = ["ExportReport", "Variant", "export_bundle"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One runnable form of the model and what it measured.

    ``scores`` maps a test set to ``{"wer", "cer", "utterances"}``. Streamed variants also
    time each chunk step of the graph (``chunk_ms``, median; ``chunk_p90_ms``).
    """

    name: str
    path: str | None
    size_mb: float
    latency_ms: float
    latency_p90_ms: float
    scores: dict[str, dict[str, float]]
    chunk_ms: float | None = None
    chunk_p90_ms: float | None = None


@dataclass(frozen=True)
class ExportReport:
    arch_id: str
    latency_audio_s: float
    threads: int
    variants: list[Variant]
    run_info: dict[str, Any]
    stream_skipped: str | None = None

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"no variant {name!r}; have {[v.name for v in self.variants]}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _measure(
    name: str,
    recognizer: Recognizer,
    tokenizer: Tokenizer,
    path: Path | None,
    size_bytes: int,
    test_sets: Mapping[str, Sequence[Utterance]],
    latency_s: float,
    repeats: int,
) -> Variant:
    t = time_transcription(recognizer, latency_s, repeats=repeats)
    chunk = None
    if isinstance(recognizer, OnnxStreamingRecognizer):
        wave = noise(latency_s)
        feats, _ = recognizer.frontend(wave, torch.tensor([wave.shape[1]]))
        recognizer.chunk_seconds(feats.numpy())  # warm-up
        chunk = timing_of(recognizer.chunk_seconds(feats.numpy()))
    scores = {}
    for set_name, utts in test_sets.items():
        r = evaluate_model(recognizer, tokenizer, list(utts), name=set_name, rtf_utterances=0)
        scores[set_name] = {"wer": r.wer, "cer": r.cer, "utterances": float(r.utterances)}
    return Variant(
        name=name,
        path=str(path) if path is not None else None,
        size_mb=size_bytes / 1e6,
        latency_ms=1000 * t.median_s,
        latency_p90_ms=1000 * t.p90_s,
        scores=scores,
        chunk_ms=1000 * chunk.median_s if chunk else None,
        chunk_p90_ms=1000 * chunk.p90_s if chunk else None,
    )


def _precisions(
    fp32: Path, precisions: Sequence[str], graphs: Sequence[str] = ("",)
) -> dict[str, Path]:
    """``fp32`` and its quantised copies (``model.onnx`` -> ``model.int8.onnx``, ...), each
    with its ``graphs`` beside it."""
    files = {"fp32": fp32}
    for precision in ("int8", "fp16"):
        if precision in precisions:
            lower = fp32.with_name(f"{fp32.stem}.{precision}.onnx")
            files[precision] = lower_graphs(fp32, lower, precision, graphs)
    return files


def _graph_files(exports: dict[str, Path], graphs: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per precision, the file name of each graph of its export (for ``deploy.json``)."""
    return {
        precision: {name: graph_file(path, name).name for name in graphs}
        for precision, path in exports.items()
    }


def export_bundle(
    model: SpeechModel,
    spec: ArchSpec,
    tokenizer: Tokenizer,
    out_dir: str | os.PathLike[str],
    *,
    precisions: Sequence[str] = ("fp32", "int8"),
    test_sets: Mapping[str, Sequence[Utterance]] | None = None,
    num_threads: int = 1,
    latency_s: float = 5.0,
    repeats: int = 10,
) -> ExportReport:
    """Export ``model`` in each of ``precisions`` and measure every variant (module docstring).

    Latency: batch 1, greedy, ``num_threads`` CPU threads for PyTorch and ONNX Runtime alike.

    Raises:
        UserError: a head kind that is not exported, or an unknown precision.
        ExportError: the exporter failed for this architecture.
    """
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise UserError(f"unknown precision(s) {unknown}; expected some of {list(PRECISIONS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sets = dict(test_sets or {})
    model.eval()
    graphs = head_graphs(model)
    fp32 = export_onnx(model, out / "model.onnx")
    files = _precisions(fp32, precisions, graphs.names)
    streams: dict[str, Path] = {}
    stream_skipped = None
    if spec.streaming is not None:
        try:
            stream = export_streaming(model, out / "model.stream.onnx", search_graphs_of=fp32)
        except (UserError, ExportError) as e:  # the whole-utterance graphs still stand
            stream_skipped = str(e)
            log.warning("the streaming chunk step was not exported: %s", e)
        else:
            streams = _precisions(stream, precisions, graphs.names)
    variants = []
    with threads(num_threads) as used:
        torch_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        variants.append(
            _measure("pytorch", model, tokenizer, None, torch_bytes, sets, latency_s, repeats)
        )
        for kind, paths in (("onnx", files), ("onnx-stream", streams)):
            for precision, path in paths.items():
                if precision not in precisions:
                    continue
                runner: Recognizer
                if kind == "onnx":
                    runner = OnnxRecognizer(model, path, threads=used)
                else:
                    runner = OnnxStreamingRecognizer(model, path, threads=used)
                size = sum(graph_file(path, name).stat().st_size for name in graphs.names)
                variants.append(
                    _measure(
                        f"{kind}-{precision}",
                        runner,
                        tokenizer,
                        path,
                        size,
                        sets,
                        latency_s,
                        repeats,
                    )
                )
    if "fp32" not in precisions:
        for kept in (files, streams):
            if "fp32" in kept:
                main = kept.pop("fp32")
                for name in graphs.names:
                    graph_file(main, name).unlink()
    deploy = {
        "arch": spec.to_dict(),
        "arch_id": spec.arch_id,
        "tokenizer": tokenizer.to_state(),
        "frontend": {
            "kind": spec.frontend,
            "n_mels": spec.n_mels,
            "sample_rate": 16000,
            "hop_length": model.frontend.hop_length,
            "win_length": model.frontend.win_length,
        },
        "input": "feats (B, T, F) float32, whole utterances",
        "decoding": graphs.describe(),
        "graph_files": _graph_files(files, graphs.names),
    }
    if stream_skipped is not None:
        deploy["stream"] = {"skipped": stream_skipped}
    elif spec.streaming is not None:
        step = StreamStep(model)
        deploy["stream"] = {
            "graph": "model.stream.onnx: feats (1, Cf, F), stem_valid, chunk_start, "
            f"chunk_valid (int64 scalars), state... -> {step.frame_output} (1, C', X), "
            "state...; the search reads the frames as it reads the first graph's output "
            "(see decoding)",
            "graph_files": _graph_files(streams, graphs.names),
            "feature_frames_per_chunk": step.feature_chunk,
            "frames_per_chunk": step.chunk,
            "output_frames_per_chunk": step.out_chunk,
            "delay_chunks": step.delay,
            "algorithmic_latency_ms": spec.algorithmic_latency_ms,
        }
    (out / "deploy.json").write_text(json.dumps(deploy, indent=2, sort_keys=True))
    report = ExportReport(
        arch_id=spec.arch_id,
        latency_audio_s=latency_s,
        threads=used,
        variants=variants,
        run_info=run_info(),
        stream_skipped=stream_skipped,
    )
    (out / "export.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    return report
