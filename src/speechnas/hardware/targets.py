"""The measured targets: PyTorch eager on the CPU, ONNX Runtime on the CPU (FP32, INT8, FP16)
and PyTorch on a CUDA GPU.

A target is named ``<device>-<runtime>[-<precision>]``; the thread count is separate, so a
lookup table is per (name, threads). Only targets that run on this machine are measured: no
latency is invented for a device nobody profiled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from speechnas._provenance import cpu_name
from speechnas.errors import UserError
from speechnas.hardware._base import Target
from speechnas.models import SpeechModel
from speechnas.recognizer import ChunkStream, NotMeasurable, Recognizer

if TYPE_CHECKING:
    from speechnas.arch import ArchSpec
    from speechnas.export.streaming import OnnxChunkStream
    from speechnas.hardware.lut import Part

__all__ = [
    "TARGETS",
    "OnnxCPUTarget",
    "TorchCPUTarget",
    "TorchCUDATarget",
    "make_target",
]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


class TorchCPUTarget(Target):
    """PyTorch eager mode on this machine's CPU, float32."""

    supports_streaming = True

    def __init__(self, threads: int = 1) -> None:
        self.name = "cpu-torch"
        self.threads = threads

    def unavailable(self) -> str | None:
        return None

    def prepare(self, model: SpeechModel, workdir: Path) -> Recognizer:
        return model.eval()

    def open_stream(self, model: SpeechModel, workdir: Path) -> ChunkStream:
        return _TorchStream(model.eval())

    def measure_parts(
        self,
        model: SpeechModel,
        spec: ArchSpec,
        *,
        audio_s: float = 5.0,
        warmup: int = 2,
        repeats: int = 10,
        workdir: Path,
    ) -> tuple[list[Part], list[float], float]:
        """Parts timed with forward hooks (:func:`speechnas.hardware.lut.measure_parts`)."""
        from speechnas.hardware.lut import measure_parts

        return measure_parts(model, spec, audio_s=audio_s, warmup=warmup, repeats=repeats)

    def describe(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "device": cpu_name(),
            "runtime": "pytorch-eager",
            "precision": "fp32",
            "threads": self.threads,
            "versions": {"torch": torch.__version__},
        }


class _TorchStream:
    """The encoder's own stream (:class:`~speechnas.models.encoder.EncoderStream`) and the
    head's greedy decoding of the frames each chunk completes."""

    def __init__(self, model: SpeechModel) -> None:
        from speechnas.models.encoder import EncoderStream

        self.model = model
        self.stream = EncoderStream(model.encoder)

    @torch.no_grad()
    def push(self, feats: Tensor) -> int:
        out = self.stream.push(feats)
        if not out.numel():
            return 0
        self.model.head.greedy_decode(out, torch.tensor([out.shape[1]]))
        return int(out.shape[1])


class _OnnxStream:
    """The exported chunk step and the head's greedy search over the frames it completes
    (a transducer's restarts per chunk, as :class:`_TorchStream`'s does)."""

    def __init__(self, stream: OnnxChunkStream) -> None:
        self.stream = stream

    def push(self, feats: Tensor) -> int:
        frames = self.stream.push(feats.numpy())
        if frames.shape[1]:
            self.stream.search(frames)
        return int(frames.shape[1])


class OnnxCPUTarget(Target):
    """The exported graphs in ONNX Runtime on the CPU (:mod:`speechnas.export.heads`: a CTC
    model's encoder and head, or a transducer's or attention decoder's encoder and step
    graphs with the greedy search in Python); front-end in PyTorch.

    Streaming models are also measured chunk by chunk through the exported chunk step
    (:mod:`speechnas.export.streaming`).

    Args:
        precision: ``fp32``, ``int8`` (dynamic quantisation) or ``fp16``.
    """

    supports_streaming = True

    def __init__(self, threads: int = 1, precision: str = "fp32") -> None:
        from speechnas.export.quantize import PRECISIONS

        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}; expected one of {PRECISIONS}")
        self.precision = precision
        self.name = "cpu-onnx" + ("" if precision == "fp32" else f"-{precision}")
        self.threads = threads

    def unavailable(self) -> str | None:
        if _version("onnxruntime") is None:
            return "onnxruntime is not installed"
        return None

    def prepare(self, model: SpeechModel, workdir: Path) -> Recognizer:
        from speechnas.export import OnnxRecognizer

        path = self._export(model, workdir, reuse=False)
        return OnnxRecognizer(model, path, threads=self.threads)

    def open_stream(self, model: SpeechModel, workdir: Path) -> ChunkStream:
        """The exported chunk step (``model.stream.onnx``, then its quantised copy).

        Raises:
            NotMeasurable: a head that does not stream (it decodes whole utterances), or an
                architecture whose chunk step the exporter fails on.
        """
        from speechnas.export.heads import head_graphs
        from speechnas.export.streaming import OnnxChunkStream, export_streaming

        graphs = head_graphs(model)
        if graphs.frame_output is None:
            raise NotMeasurable(
                f"{type(model.head).__name__} decodes whole utterances: it does not stream"
            )
        from speechnas.export import ExportError

        try:
            # prepare() exported the search graphs already: copied, not exported again.
            path = export_streaming(
                model.eval(),
                workdir / "model.stream.onnx",
                search_graphs_of=workdir / "model.onnx",
            )
        except (ExportError, UserError) as e:
            raise NotMeasurable(f"the chunk step was not exported: {e}") from e
        lower = workdir / f"model.stream.{self.precision}.onnx"
        path = self._lower(path, lower, reuse=False, graphs=graphs.names)
        return _OnnxStream(OnnxChunkStream(model, path, threads=self.threads))

    def _lower(
        self, path: Path, lower: Path, *, reuse: bool, graphs: Sequence[str] = ("",)
    ) -> Path:
        """The export ``path`` (its ``graphs``) in this target's precision (``lower``,
        written unless reused)."""
        from speechnas.export.quantize import lower_graphs

        if self.precision == "fp32":
            return path
        if not (reuse and lower.is_file()):
            # Written aside and renamed (the first graph last), so an interrupted run leaves
            # no half export to reuse.
            partial = lower.with_name(f"{lower.stem}.partial.onnx")
            lower_graphs(path, partial, self.precision, graphs)
            _move_graphs(partial, lower, graphs)
        return lower

    def _export(self, model: SpeechModel, workdir: Path, *, reuse: bool) -> Path:
        """The graphs in this precision: ``model.onnx``, then its quantised copy (with the
        head's other graphs beside each).

        With ``reuse``, a file already in ``workdir`` is taken as it is (the FP32 graph
        serves every precision, so one workdir per model saves exporting it again).
        """
        from speechnas.export import export_onnx
        from speechnas.export.heads import head_graphs

        graphs = head_graphs(model).names
        path = workdir / "model.onnx"
        if not (reuse and path.is_file()):
            # Only a graph that passed the exporter's checks is ever there to be reused.
            partial = export_onnx(model, workdir / "model.partial.onnx")
            _move_graphs(partial, path, graphs)
        lower = workdir / f"model.{self.precision}.onnx"
        return self._lower(path, lower, reuse=reuse, graphs=graphs)

    def measure_parts(
        self,
        model: SpeechModel,
        spec: ArchSpec,
        *,
        audio_s: float = 5.0,
        warmup: int = 2,
        repeats: int = 10,
        workdir: Path,
    ) -> tuple[list[Part], list[float], float]:
        """Parts read from ONNX Runtime's profiler (:mod:`speechnas.hardware.onnx_parts`).

        Graphs already exported into ``workdir`` (``model.onnx``, ``model.int8.onnx``,
        ``model.fp16.onnx``) are reused.

        Raises:
            NotMeasurable: the exporter fails for its architecture.
        """
        from speechnas.export import ExportError
        from speechnas.hardware.onnx_parts import measure_onnx_parts

        try:
            graph = self._export(model.eval(), workdir, reuse=True)
        except (ExportError, UserError) as e:
            raise NotMeasurable(f"{spec.summary()}: {e}") from e
        return measure_onnx_parts(
            model,
            spec,
            graph,
            threads=self.threads,
            workdir=workdir,
            audio_s=audio_s,
            warmup=warmup,
            repeats=repeats,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "device": cpu_name(),
            "runtime": "onnxruntime-cpu",
            "precision": self.precision,
            "threads": self.threads,
            "versions": {
                "torch": torch.__version__,
                "onnx": _version("onnx"),
                "onnxruntime": _version("onnxruntime"),
            },
        }


class _OnCUDA:
    """Moves each batch to the GPU; the model is already there."""

    def __init__(self, model: SpeechModel) -> None:
        self.model = model

    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        # Decoding ends in .tolist(), which waits for the GPU: times are complete.
        return self.model.transcribe_ids(wave.cuda(), wave_lens.cuda())


class TorchCUDATarget(Target):
    """PyTorch eager mode on the first CUDA GPU, float32 (``threads``: host threads)."""

    supports_streaming = False

    def __init__(self, threads: int = 1) -> None:
        self.name = "cuda-torch"
        self.threads = threads

    def unavailable(self) -> str | None:
        return None if torch.cuda.is_available() else "no CUDA GPU on this machine"

    def prepare(self, model: SpeechModel, workdir: Path) -> Recognizer:
        import copy

        # A copy: the caller's model stays on the CPU.
        return _OnCUDA(copy.deepcopy(model).eval().cuda())

    def energy_j(self, fn: Callable[[], object], *, repeats: int = 10) -> tuple[float, str]:
        """Joules per call from the GPU's NVML energy counter (``nvml``)."""
        from speechnas.hardware.energy import measure_gpu_energy_j

        return measure_gpu_energy_j(fn, repeats=repeats), "nvml"

    def describe(self) -> dict[str, Any]:
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        return {
            "target": self.name,
            "device": device,
            "runtime": "pytorch-eager-cuda",
            "precision": "fp32",
            "threads": self.threads,
            "versions": {"torch": torch.__version__, "cuda": torch.version.cuda},
        }


#: Target name -> factory(threads).
TARGETS: dict[str, Any] = {
    "cpu-torch": lambda threads: TorchCPUTarget(threads),
    "cpu-onnx": lambda threads: OnnxCPUTarget(threads, "fp32"),
    "cpu-onnx-int8": lambda threads: OnnxCPUTarget(threads, "int8"),
    "cpu-onnx-fp16": lambda threads: OnnxCPUTarget(threads, "fp16"),
    "cuda-torch": lambda threads: TorchCUDATarget(threads),
}


def make_target(name: str, threads: int = 1) -> Target:
    """The target called ``name`` with ``threads`` CPU threads.

    Raises:
        UserError: unknown name (the message lists the known ones), or the target cannot run
            on this machine (the message says why).
    """
    if name not in TARGETS:
        raise UserError(f"unknown target {name!r}; expected one of {sorted(TARGETS)}")
    if threads < 1:
        raise UserError(f"threads={threads!r} must be >= 1")
    target: Target = TARGETS[name](threads)
    why = target.unavailable()
    if why is not None:
        raise UserError(f"target {name!r} cannot run here: {why}")
    return target


def _move_graphs(src: Path, dst: Path, graphs: Sequence[str]) -> None:
    """Rename the export whose first graph is ``src`` to ``dst``, the first graph last (a
    ``dst`` export there before is removed first, so an interrupted move leaves no first
    graph beside another export's step graphs)."""
    from speechnas.export.heads import graph_file

    graph_file(dst, "").unlink(missing_ok=True)
    for name in sorted(graphs, key=lambda n: n == ""):
        graph_file(src, name).replace(graph_file(dst, name))
