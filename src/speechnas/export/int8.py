"""What a model's INT8 export scores: the dev error and the latency of the copy that ships.

:func:`int8_scores` exports a trained model to ONNX, quantises it to INT8 (dynamic, as
:func:`speechnas.export.quantize.to_int8`), transcribes a dev set with it in ONNX Runtime
and times it on this CPU, so that a search can select by the accuracy and speed of the
model it would deploy (``wer_int8``, ``int8_latency_ms``), not of its FP32 original. A
streaming model is scored through its whole-utterance graph, which computes what its chunk
step does (``tests/export/test_streaming.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from speechnas.data.manifest import Utterance
from speechnas.evaluate.runner import evaluate_model
from speechnas.export.heads import graph_file, head_graphs
from speechnas.export.onnx import export_onnx
from speechnas.export.quantize import lower_graphs
from speechnas.export.runtime import OnnxRecognizer
from speechnas.models import SpeechModel
from speechnas.text import Tokenizer
from speechnas.timing import threads, time_transcription

__all__ = ["Int8Scores", "int8_scores"]


@dataclass(frozen=True)
class Int8Scores:
    """Dev WER and CER of the INT8 export, its median latency on ``latency_s`` seconds of
    audio (batch 1, this CPU) and its size."""

    wer: float
    cer: float
    latency_ms: float
    size_mb: float


def int8_scores(
    model: SpeechModel,
    tokenizer: Tokenizer,
    dev: Sequence[Utterance],
    workdir: str | Path,
    *,
    num_threads: int = 1,
    latency_s: float = 5.0,
    repeats: int = 5,
) -> Int8Scores:
    """Export ``model`` into ``workdir`` (FP32, then INT8) and score the INT8 copy.

    Raises:
        ExportError: the exporter failed for this architecture.
        UserError: a head kind that is not exported.
        NothingToScore: no dev utterance could be scored.
    """
    out = Path(workdir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    names = head_graphs(model).names
    fp32 = export_onnx(model, out / "model.onnx")
    int8 = lower_graphs(fp32, out / "model.int8.onnx", "int8", names)
    with threads(num_threads) as used:
        runner = OnnxRecognizer(model, int8, threads=used)
        scored = evaluate_model(runner, tokenizer, list(dev), name="dev", rtf_utterances=0)
        timed = time_transcription(runner, latency_s, repeats=repeats)
    size = sum(graph_file(int8, name).stat().st_size for name in names)
    return Int8Scores(
        wer=scored.wer, cer=scored.cer, latency_ms=1000 * timed.median_s, size_mb=size / 1e6
    )
