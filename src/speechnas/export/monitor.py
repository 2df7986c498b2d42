"""Latency drift of a deployed bundle: measured again where it runs, against what it was
chosen for.

An export bundle records, per variant (PyTorch and each ONNX precision, streamed too), the
latency it measured when it was exported (``export.json``: median and 90th percentile on
``latency_audio_s`` seconds of audio with ``threads`` threads, and per chunk for streamed
variants). :func:`check_drift` measures every variant again the same way on this machine
(the graphs of the bundle in ONNX Runtime; the PyTorch variant as an untrained model of the
bundle's architecture, whose latency is its trained model's: the weights do not change the
work) and compares each figure with its record. The band a figure may move within is the
measurement's own noise: the larger of the two spreads (90th percentile less median, then
and now), and at least ``tolerance`` of the recorded median. A figure above its band has
drifted (a failure); one below it is reported as faster and does not fail. Each check is
appended to a history (one JSON line per run) that :func:`plot_history` draws.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from speechnas._provenance import cpu_name
from speechnas.arch import ArchSpec
from speechnas.errors import UserError
from speechnas.export.runtime import OnnxRecognizer
from speechnas.export.streaming import OnnxStreamingRecognizer
from speechnas.models import SpeechModel, build_model
from speechnas.recognizer import Recognizer
from speechnas.reports.drift import HISTORY, plot_drift_history, read_drift_history
from speechnas.text import tokenizer_from_state
from speechnas.timing import Timing, noise, threads, time_transcription, timing_of

__all__ = ["HISTORY", "Figure", "check_drift", "plot_history", "read_history"]

#: The history of a bundle's checks (:mod:`speechnas.reports.drift`, torch-free for reports).
read_history = read_drift_history
plot_history = plot_drift_history


@dataclass(frozen=True)
class Figure:
    """One measured figure against its record, in milliseconds."""

    variant: str
    what: str  # "latency" (whole utterance) or "chunk" (per chunk of a stream)
    recorded_ms: float
    measured_ms: float
    band_ms: float
    status: str  # "ok", "slower" (drifted: a failure) or "faster"


def _load(bundle: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        deploy = json.loads((bundle / "deploy.json").read_text())
        report = json.loads((bundle / "export.json").read_text())
    except FileNotFoundError as e:
        raise UserError(f"{bundle}: not an export bundle (no {Path(e.filename).name})") from e
    except ValueError as e:
        raise UserError(f"{bundle}: a bundle file is not JSON: {e}") from e
    missing = [k for k in ("arch", "tokenizer") if k not in deploy]
    missing += [
        f"export.json {k}" for k in ("latency_audio_s", "threads", "variants") if k not in report
    ]
    for v in report.get("variants", []):
        missing += [
            f"export.json variant {v.get('name', '?')} {k}"
            for k in ("name", "path", "latency_ms", "latency_p90_ms")
            if k not in v
        ]
    if missing:
        raise UserError(f"{bundle}: the bundle lacks {', '.join(missing)}")
    return deploy, report


def _recognizer(model: SpeechModel, variant: dict[str, Any], bundle: Path, n: int) -> Recognizer:
    if variant["name"] == "pytorch":
        return model
    path = bundle / Path(variant["path"]).name
    if not path.is_file():
        raise UserError(f"{bundle}: variant {variant['name']}'s graph {path.name} is missing")
    if variant["name"].startswith("onnx-stream"):
        return OnnxStreamingRecognizer(model, path, threads=n)
    return OnnxRecognizer(model, path, threads=n)


def _compare(
    variant: str, what: str, then: tuple[float, float], now: Timing, tolerance: float
) -> Figure:
    recorded, recorded_p90 = then
    measured = 1000 * now.median_s
    spread = max(recorded_p90 - recorded, 1000 * (now.p90_s - now.median_s), 0.0)
    band = max(spread, tolerance * recorded)
    status = (
        "slower"
        if measured > recorded + band
        else "faster"
        if measured < recorded - band
        else "ok"
    )
    return Figure(variant, what, recorded, measured, band, status)


def check_drift(
    bundle: str | Path,
    *,
    tolerance: float = 0.1,
    repeats: int = 20,
    history: str | Path | None = None,
    wrap: Callable[[Recognizer], Recognizer] | None = None,
) -> list[Figure]:
    """Measure every variant of ``bundle`` again and compare (module docstring); append the
    run to ``history`` (default ``<bundle>/monitor.jsonl``).

    Args:
        tolerance: the smallest band, as a share of the recorded median.
        repeats: timed runs per figure (after 2 warm-up runs).
        wrap: applied to each recogniser before it is timed (a test slows it down with it).

    Raises:
        UserError: not a bundle, or a graph of it is missing.
    """
    folder = Path(bundle)
    deploy, report = _load(folder)
    spec = ArchSpec.from_dict(deploy["arch"])
    if spec.decoder.kind != "ctc" or spec.frontend not in ("logmel", "mfcc"):
        raise UserError(
            f"{folder}: {spec.summary()}: the check re-times an untrained model, which works "
            "as the trained one only for CTC models with a log-mel or MFCC front-end"
        )
    vocab = tokenizer_from_state(deploy["tokenizer"]).vocab_size
    model = build_model(spec, vocab_size=vocab, specaugment=False).eval()
    audio_s = float(report["latency_audio_s"])
    n = int(report["threads"])
    figures = []
    with threads(n), torch.no_grad():
        for variant in report["variants"]:
            base = _recognizer(model, variant, folder, n)
            recognizer = base if wrap is None else wrap(base)
            timed = time_transcription(recognizer, audio_s, repeats=repeats)
            then = (float(variant["latency_ms"]), float(variant["latency_p90_ms"]))
            figures.append(_compare(variant["name"], "latency", then, timed, tolerance))
            if variant.get("chunk_ms") is not None and isinstance(base, OnnxStreamingRecognizer):
                wave = noise(audio_s)
                feats, _ = base.frontend(wave, torch.tensor([wave.shape[1]]))
                base.chunk_seconds(feats.numpy())  # warm-up
                chunk = timing_of(base.chunk_seconds(feats.numpy()))
                then = (float(variant["chunk_ms"]), float(variant["chunk_p90_ms"]))
                figures.append(_compare(variant["name"], "chunk", then, chunk, tolerance))
    path = Path(history) if history is not None else folder / HISTORY
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": cpu_name(),
        "threads": n,
        "torch": torch.__version__,
        "figures": [asdict(f) for f in figures],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
    return figures
