"""ONNX export of a CTC model's encoder and head.

Legend: B batch, T feature frames, F features, T' encoder frames, V vocabulary.

The exported graph maps features to CTC log-probabilities, ``feats (B, T, F) -> log_probs
(B, T', V)``, for whole utterances: every item of a batch is ``T`` frames long (batch 1 in
deployment). The front-end (STFT and filterbank) stays outside the graph, in
:class:`speechnas.export.runtime.OnnxRecognizer`, and so does the greedy collapse of the best
path. Batch size and frame count are dynamic.

The graph is captured with ``torch.export`` (the dynamo-based exporter); the model code keeps
its data-dependent steps (trimming a batch to its longest item, packing LSTM inputs) out of
an exported graph, where every item is whole and they change nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from speechnas.errors import UserError
from speechnas.models import SpeechModel
from speechnas.models.ctc import CTCHead

__all__ = ["ExportError", "EncoderCTC", "export_onnx"]

log = logging.getLogger(__name__)

#: ONNX operator set of the exported graphs (ONNX Runtime 1.20+ runs it).
OPSET = 20
INPUT_NAME = "feats"
OUTPUT_NAME = "log_probs"


class ExportError(RuntimeError):
    """The exporter could not capture or convert a model (names the architecture)."""


class EncoderCTC(nn.Module):
    """``feats (B, T, F) -> log_probs (B, T', V)``: the part of a CTC model that is exported."""

    def __init__(self, model: SpeechModel) -> None:
        super().__init__()
        if not isinstance(model.head, CTCHead):
            raise UserError(
                f"ONNX export covers CTC models; this model's head is "
                f"{type(model.head).__name__} (transducer and attention decoders run a "
                "search loop that is not exported yet)"
            )
        self.encoder = model.encoder
        self.head = model.head

    def forward(self, feats: Tensor) -> Tensor:
        # Whole utterances: every item is as long as the batch.
        lens = torch.full((feats.shape[0],), feats.shape[1], dtype=torch.long)
        enc, _ = self.encoder(feats, lens)
        return self.head.log_probs(enc)


def export_onnx(
    model: SpeechModel,
    path: str | os.PathLike[str],
    *,
    example_frames: int = 200,
    fresh_process_retry: bool = True,
) -> Path:
    """Write ``model``'s encoder and CTC head to ``path`` as ONNX (see the module docstring).

    Args:
        model: a CTC model; it is put in eval mode and left there.
        path: the ``.onnx`` file to write (parents are created).
        example_frames: feature frames of the example input used to trace the graph; the
            exported graph accepts any length.
        fresh_process_retry: the exported graph is checked at two other lengths against the
            model; if it fails, export again in a new Python process. (A second export of an
            LSTM model in one process can silently fix the length: seen with torch 2.13.)

    Raises:
        UserError: the model is not a CTC model.
        ExportError: torch.export or the ONNX conversion failed for this architecture.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    wrapper = EncoderCTC(model).eval()
    # A batch of two: torch.export fixes a dimension whose example size is 1.
    example = torch.zeros(2, example_frames, model.frontend.num_features)
    dynamic = torch.export.Dim.DYNAMIC
    save_program(
        wrapper,
        (example,),
        out,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: dynamic, 1: dynamic},),
    )
    try:
        _check_lengths(wrapper, out, example_frames, model.frontend.num_features)
    except ExportError as e:
        if not fresh_process_retry:
            raise
        log.warning("%s; exporting again in a fresh process", e)
        _export_in_fresh_process(model, out, example_frames)
        _check_lengths(wrapper, out, example_frames, model.frontend.num_features)
    log.info("exported %s (%.2f MB)", out, out.stat().st_size / 1e6)
    return out


def save_program(
    module: nn.Module,
    args: tuple[Tensor, ...],
    out: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: tuple[dict[int, Any], ...] | None = None,
) -> None:
    """Capture ``module`` on ``args`` with ``torch.export`` and write it to ``out`` as ONNX
    (opset :data:`OPSET`, optimised).

    Raises:
        ExportError: the exporter failed (whatever it raised) or returned nothing.
    """
    try:
        with torch.no_grad():
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=dynamic_shapes,
                opset_version=OPSET,
                optimize=True,
                verbose=False,
            )
    except Exception as e:  # the exporter raises many types; report them as one
        raise ExportError(f"ONNX export failed: {type(e).__name__}: {e}") from e
    if program is None:
        raise ExportError("ONNX export returned no program")
    program.save(str(out))


def _export_in_fresh_process(model: SpeechModel, out: Path, example_frames: int) -> None:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "model.pt"
        torch.save(model, blob)
        child = context.Process(target=_export_child, args=(str(blob), str(out), example_frames))
        child.start()
        child.join()
    if child.exitcode != 0:
        raise ExportError(
            f"ONNX export in a fresh process failed too (exit code {child.exitcode})"
        )


def _export_child(blob: str, out: str, example_frames: int) -> None:
    model = torch.load(blob, weights_only=False)  # our own file, written just now
    export_onnx(model, out, example_frames=example_frames, fresh_process_retry=False)


def _check_lengths(wrapper: EncoderCTC, path: Path, traced: int, features: int) -> None:
    """Run the graph at lengths other than the traced one and compare with PyTorch.

    The exporter can fix a dynamic length without an error (seen for a second LSTM export
    in one process); such a graph must not be used.
    """
    from speechnas.export.runtime import onnx_session

    session = onnx_session(path, threads=1)
    g = torch.Generator().manual_seed(0)
    for frames in (max(8, traced // 3 + 1), 2 * traced + 7):
        feats = torch.randn(1, frames, features, generator=g)
        with torch.no_grad():
            expected = wrapper(feats).numpy()
        try:
            got = session.run(None, {INPUT_NAME: feats.numpy()})[0]  # type: ignore[attr-defined]
        except Exception as e:  # ONNX Runtime raises its own types
            raise ExportError(f"the exported graph fails at {frames} frames: {e}") from e
        if got.shape != expected.shape or float(abs(got - expected).max()) > 1e-3:
            raise ExportError(
                f"the exported graph differs from the model at {frames} frames "
                f"(traced at {traced})"
            )
