"""ONNX export of a TTS acoustic model (:mod:`speechnas.models.tts`), with its latency.

Legend: N text tokens, D width, T mel frames, M mel bands.

The model's length regulator repeats each token's vector by a duration known only once the
text stage has run, so a synthesis is two graphs with the regulator between them, as a CTC
transcription is a graph with its collapse after it:

* ``text.onnx``: ``tokens (1, N) int64 -> hidden (1, N, D), log_durations (1, N)``: the
  encoder and the variance predictors, their pitch and energy embeddings added;
* the regulator, in NumPy: each token ``max(1, round(exp(log d) - 1))`` frames
  (:meth:`~speechnas.models.tts.AcousticModel.frames_of`), its vector repeated;
* ``mel.onnx``: ``frames (1, T, D) -> mel (1, T, M)``: the decoder and projection, the
  training's per-band normalisation undone inside, so the output is natural-log mel power.

Both are dynamic in length. :func:`export_tts` writes them (and INT8 copies, dynamically
quantised like the recognisers', :func:`~speechnas.export.quantize.to_int8`), checks each
precision against the PyTorch model on a sentence, and times a synthesis (median of
``repeats`` after a warm-up, batch 1, ``threads`` threads) in PyTorch and in ONNX Runtime.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from speechnas.export.onnx import ExportError, save_program
from speechnas.export.quantize import to_int8
from speechnas.export.runtime import onnx_session
from speechnas.models.tts import AcousticModel
from speechnas.timing import threads as torch_threads
from speechnas.timing import time_calls

__all__ = [
    "PRECISIONS",
    "OnnxSynthesizer",
    "TTSExport",
    "TTSVariant",
    "export_tts",
    "synthesise_torch",
]

#: The precisions a TTS export writes.
PRECISIONS = ("fp32", "int8")


class _TextGraph(nn.Module):
    def __init__(self, model: AcousticModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        lens = torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long)
        x, _, out = self.model.variance(tokens, lens)
        return x, out["log_durations"]


class _MelGraph(nn.Module):
    def __init__(self, model: AcousticModel, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.model = model
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", mean.reshape(1, 1, -1).float())
        self.register_buffer("std", std.reshape(1, 1, -1).float())

    def forward(self, frames: Tensor) -> Tensor:
        lens = torch.full((frames.shape[0],), frames.shape[1], dtype=torch.long)
        mel: Tensor = self.model.decode(frames, lens) * self.std + self.mean
        return mel


def _regulate(hidden: np.ndarray, log_durations: np.ndarray) -> np.ndarray:
    """(1, N, D), (1, N) -> (1, T, D): each token repeated by its predicted frames."""
    frames = np.maximum(np.round(np.exp(log_durations[0]) - 1.0), 1).astype(np.int64)
    return np.repeat(hidden, frames, axis=1)


@torch.no_grad()
def synthesise_torch(
    model: AcousticModel, mean: Tensor, std: Tensor, tokens: Sequence[int]
) -> np.ndarray:
    """(T, M) natural-log mel of ``tokens`` from the PyTorch model (what the graphs export)."""
    model.eval()
    out = model(torch.tensor([list(tokens)]), torch.tensor([len(tokens)]))
    mel = out["mel"][0, : int(out["mel_lens"][0])] * std + mean
    result: np.ndarray = mel.numpy()
    return result


class OnnxSynthesizer:
    """Synthesises with an export's two graphs (module docstring).

    Args:
        folder: the export folder; ``precision`` picks ``text[.int8].onnx`` and
            ``mel[.int8].onnx``.
        threads: ONNX Runtime intra-op threads.
    """

    def __init__(self, folder: str | Path, precision: str = "fp32", threads: int = 1) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}; expected one of {PRECISIONS}")
        suffix = "" if precision == "fp32" else f".{precision}"
        self.text = onnx_session(Path(folder) / f"text{suffix}.onnx", threads=threads)
        self.mel = onnx_session(Path(folder) / f"mel{suffix}.onnx", threads=threads)

    def synthesise(self, tokens: Sequence[int]) -> np.ndarray:
        """(T, M) natural-log mel power of ``tokens``."""
        feed = {"tokens": np.asarray([list(tokens)], dtype=np.int64)}
        hidden, log_durations = self.text.run(None, feed)  # type: ignore[attr-defined]
        frames = _regulate(hidden, log_durations)
        (mel,) = self.mel.run(None, {"frames": frames.astype(np.float32)})  # type: ignore[attr-defined]
        out: np.ndarray = mel[0]
        return out


@dataclass(frozen=True)
class TTSVariant:
    """One precision of an export: its size, its largest difference from the PyTorch
    model's mel on the check sentence (natural-log units; ``None`` where their lengths
    differ, which rounding a duration differently can do), by how many frames they differ,
    and its latency."""

    name: str
    size_mb: float
    latency_ms: float
    max_abs_diff: float | None
    frames_differ: int


@dataclass(frozen=True)
class TTSExport:
    """What :func:`export_tts` wrote and measured; ``export.json`` holds it."""

    folder: str
    tokens: int
    threads: int
    pytorch_latency_ms: float
    variants: tuple[TTSVariant, ...]

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "variants": [asdict(v) for v in self.variants]}


def _ms(fn: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of ``fn`` after one warm-up call (``time_calls``)."""
    return 1e3 * time_calls(fn, warmup=1, repeats=repeats).median_s


def _check_graphs(
    model: AcousticModel, mean: Tensor, std: Tensor, folder: Path, tokens: Sequence[int]
) -> None:
    """Each FP32 graph against the module it exports, on the same inputs (the mel graph on
    the PyTorch text stage's regulated frames, so a duration rounded the other way by float
    error cannot fail a correct export)."""
    x = torch.tensor([list(tokens)])
    with torch.no_grad():
        hidden, log_durations = _TextGraph(model)(x)
        frames = _regulate(hidden.numpy(), log_durations.numpy())
        mel = _MelGraph(model, mean, std).eval()(torch.as_tensor(frames)).numpy()
    text = onnx_session(folder / "text.onnx", threads=1)
    got_hidden, got_durations = text.run(None, {"tokens": x.numpy()})  # type: ignore[attr-defined]
    mel_graph = onnx_session(folder / "mel.onnx", threads=1)
    (got_mel,) = mel_graph.run(None, {"frames": frames.astype(np.float32)})  # type: ignore[attr-defined]
    for name, want, have in (
        ("text.onnx hidden", hidden.numpy(), got_hidden),
        ("text.onnx log_durations", log_durations.numpy(), got_durations),
        ("mel.onnx mel", mel, got_mel),
    ):
        if have.shape != want.shape or float(np.abs(have - want).max()) > 1e-2:
            raise ExportError(
                f"the exported {name} differs from the model on the check sentence "
                f"(shapes {have.shape} and {want.shape})"
            )


def export_tts(
    model: AcousticModel,
    mel_mean: Tensor,
    mel_std: Tensor,
    out: str | Path,
    *,
    check_tokens: Sequence[int],
    precisions: Sequence[str] = ("fp32", "int8"),
    threads: int = 1,
    repeats: int = 10,
) -> TTSExport:
    """Export ``model`` into folder ``out`` and measure it (module docstring).

    Args:
        mel_mean, mel_std: (M,) the per-band normalisation the model was trained with.
        check_tokens: the sentence each precision is checked and timed on.

    Raises:
        ExportError: the exporter failed, or an FP32 graph does not reproduce its part of the
            model.
        ValueError: an unknown precision, or no check tokens.
    """
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or "fp32" not in precisions:
        raise ValueError(f"precisions must include fp32 and be fp32/int8, got {precisions}")
    if not check_tokens:
        raise ValueError("check_tokens: a sentence of at least one token is needed")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    tokens = torch.tensor([list(check_tokens)])
    with torch.no_grad():
        hidden, _ = _TextGraph(model)(tokens)
    save_program(
        _TextGraph(model).eval(),
        (torch.cat([tokens, tokens], 1),),
        folder / "text.onnx",
        input_names=["tokens"],
        output_names=["hidden", "log_durations"],
        dynamic_shapes=({1: torch.export.Dim("tokens", min=1, max=4096)},),
    )
    save_program(
        _MelGraph(model, mel_mean, mel_std).eval(),
        (torch.cat([hidden] * 8, 1),),
        folder / "mel.onnx",
        input_names=["frames"],
        output_names=["mel"],
        dynamic_shapes=({1: torch.export.Dim("frames", min=1, max=65536)},),
    )
    if "int8" in precisions:
        for name in ("text", "mel"):
            to_int8(folder / f"{name}.onnx", folder / f"{name}.int8.onnx")
    with torch_threads(threads):
        expected = synthesise_torch(model, mel_mean, mel_std, check_tokens)
        pytorch_ms = _ms(
            functools.partial(synthesise_torch, model, mel_mean, mel_std, check_tokens), repeats
        )
    _check_graphs(model, mel_mean, mel_std, folder, check_tokens)
    variants = []
    for precision in precisions:
        suffix = "" if precision == "fp32" else f".{precision}"
        synth = OnnxSynthesizer(folder, precision, threads)
        got = synth.synthesise(check_tokens)
        same = got.shape == expected.shape
        size = sum((folder / f"{n}{suffix}.onnx").stat().st_size for n in ("text", "mel"))
        variants.append(
            TTSVariant(
                name=f"onnx-{precision}",
                size_mb=size / 1e6,
                latency_ms=_ms(functools.partial(synth.synthesise, check_tokens), repeats),
                max_abs_diff=float(np.abs(got - expected).max()) if same else None,
                frames_differ=abs(got.shape[0] - expected.shape[0]),
            )
        )
    report = TTSExport(str(folder), len(check_tokens), threads, pytorch_ms, tuple(variants))
    (folder / "export.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report
