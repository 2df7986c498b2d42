"""ONNX export of a model for whole utterances: its encoder and its head's decoding graphs.

Legend: B batch, T feature frames, F features, T' encoder frames, V vocabulary.

The first graph maps features to what the head decodes from, ``feats (B, T, F) -> ...``, for
whole utterances: every item of a batch is ``T`` frames long (batch 1 in deployment). A CTC
model has that one graph (``log_probs (B, T', V)``); a transducer or an attention decoder
adds the graphs of its search's steps beside it (:mod:`speechnas.export.heads`). The
front-end (STFT and filterbank) stays outside the graphs, in
:class:`speechnas.export.runtime.OnnxRecognizer`, and so does the search itself. Batch size
and frame count are dynamic.

The graphs are captured with ``torch.export`` (the dynamo-based exporter); the model code
keeps its data-dependent steps (trimming a batch to its longest item, packing LSTM inputs)
out of an exported graph, where every item is whole and they change nothing.
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

from speechnas.export.heads import INPUT_NAME, EncoderCTC, Graph, graph_file, head_graphs
from speechnas.models import SpeechModel

__all__ = [
    "INPUT_NAME",
    "EncoderCTC",
    "ExportError",
    "check_graph",
    "export_onnx",
    "save_graph",
    "save_program",
]

log = logging.getLogger(__name__)

#: ONNX operator set of the exported graphs (ONNX Runtime 1.20+ runs it).
OPSET = 20


class ExportError(RuntimeError):
    """The exporter could not capture or convert a model (names the architecture)."""


def export_onnx(
    model: SpeechModel,
    path: str | os.PathLike[str],
    *,
    example_frames: int = 200,
    fresh_process_retry: bool = True,
) -> Path:
    """Write ``model``'s graphs to ``path`` and beside it (see the module docstring).

    Args:
        model: the model; it is put in eval mode and left there.
        path: the first graph's ``.onnx`` file (parents are created); graph ``g`` goes to
            :func:`speechnas.export.heads.graph_file` ``(path, g)``, written before ``path``.
        example_frames: feature frames of the example input used to trace the graphs; the
            exported graphs accept any length.
        fresh_process_retry: every exported graph is checked at two other lengths against
            the model; if one fails, export again in a new Python process. (A second export
            of an LSTM model in one process can silently fix the length: seen with torch
            2.13.)

    Returns:
        ``path``.

    Raises:
        UserError: a head kind that is not exported.
        ExportError: torch.export or the ONNX conversion failed for this architecture.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    # The first graph is written last: where it is, the others are too.
    graphs = head_graphs(model).graphs()[::-1]
    for graph in graphs:
        save_graph(graph, graph_file(out, graph.name), example_frames)
    try:
        for graph in graphs:
            check_graph(graph, graph_file(out, graph.name), example_frames)
    except ExportError as e:
        if not fresh_process_retry:
            raise
        log.warning("%s; exporting again in a fresh process", e)
        _export_in_fresh_process(model, out, example_frames)
        for graph in graphs:
            check_graph(graph, graph_file(out, graph.name), example_frames)
    size = sum(graph_file(out, g.name).stat().st_size for g in graphs)
    log.info("exported %s (%d graphs, %.2f MB)", out, len(graphs), size / 1e6)
    return out


def save_graph(graph: Graph, out: Path, example_frames: int = 200) -> None:
    """Trace ``graph`` on its example of ``example_frames`` frames and write it to ``out``."""
    save_program(
        graph.module,
        graph.example(example_frames, 2),
        out,
        input_names=graph.input_names,
        output_names=graph.output_names,
        dynamic_shapes=graph.dynamic_shapes,
    )


def save_program(
    module: nn.Module,
    args: tuple[Tensor, ...],
    out: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: tuple[Any, ...] | None = None,
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
    # NOTE: weights_only=False only here: the blob is a whole module (not tensors and plain
    # data), pickled a moment ago by the parent into its own temporary directory (mode 0700,
    # removed once this child exits). No file of a run folder is ever read this way.
    model = torch.load(blob, weights_only=False)
    export_onnx(model, out, example_frames=example_frames, fresh_process_retry=False)


def check_graph(graph: Graph, path: Path, traced: int = 200) -> None:
    """Run the graph at lengths other than the traced one and compare with PyTorch.

    The exporter can fix a dynamic length without an error (seen for a second LSTM export
    in one process); such a graph must not be used.
    """
    from speechnas.export.runtime import onnx_session

    session = onnx_session(path, threads=1)
    # Batch 1, as deployed; the trace ran at batch 2.
    for frames in (max(8, traced // 3 + 1), 2 * traced + 7):
        args = graph.example(frames, 1)
        with torch.no_grad():
            expected = graph.module(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        feeds = dict(zip(graph.input_names, (a.numpy() for a in args), strict=True))
        try:
            got = session.run(None, feeds)  # type: ignore[attr-defined]
        except Exception as e:  # ONNX Runtime raises its own types
            raise ExportError(
                f"the exported graph {path.name} fails at {frames} frames: {e}"
            ) from e
        for want, have in zip(expected, got, strict=True):
            want = want.numpy()
            if have.shape != want.shape or (
                want.size and float(abs(have.astype(want.dtype) - want).max()) > 1e-3
            ):
                raise ExportError(
                    f"the exported graph {path.name} differs from the model at {frames} "
                    f"frames (traced at {traced})"
                )
