"""Running an exported model with ONNX Runtime: waveform in, token ids out.

Legend: B batch, S samples, T feature frames, T' encoder frames, V vocabulary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from speechnas.export.heads import INPUT_NAME, HeadGraphs, graph_file, head_graphs
from speechnas.models import SpeechModel

__all__ = ["GraphSessions", "OnnxRecognizer", "onnx_session"]


def onnx_session(
    path: str | os.PathLike[str],
    *,
    threads: int | None = None,
    profile_prefix: str | os.PathLike[str] | None = None,
    optimized_path: str | os.PathLike[str] | None = None,
) -> object:
    """An ONNX Runtime CPU session for ``path`` with ``threads`` intra-op threads.

    ``None`` lets ONNX Runtime choose (one per physical core). Inter-op parallelism is off:
    the graphs are sequential, and one thread pool is what a thread count should mean.

    Args:
        profile_prefix: when given, ONNX Runtime's profiler records every kernel it runs;
            ``session.end_profiling()`` writes the trace (``<prefix>_<date>.json``).
        optimized_path: when given, the graph as ONNX Runtime rewrote it to run (fusions,
            layouts; the node names its profiler uses) is saved there.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    # Idle workers would spin for the next operator and compete with PyTorch's own threads,
    # which compute the features between runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class GraphSessions:
    """ONNX Runtime sessions of graphs ``names`` of the export whose first graph is ``path``
    (:func:`speechnas.export.heads.graph_file`); :meth:`run` is a
    :data:`speechnas.export.heads.RunGraph`."""

    def __init__(
        self, path: str | os.PathLike[str], names: list[str], *, threads: int | None
    ) -> None:
        self.sessions = {
            name: onnx_session(graph_file(path, name), threads=threads) for name in names
        }

    def run(self, graph: str, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """One run of graph ``graph`` (``""``: the first) on ``feeds``."""
        out = self.sessions[graph].run(None, dict(feeds))  # type: ignore[attr-defined]
        return [np.asarray(x) for x in out]


class OnnxRecognizer:
    """The model's front-end in PyTorch, then its exported graphs in ONNX Runtime.

    ``transcribe_ids(wave (B, S), wave_lens (B,)) -> token ids per utterance`` like
    :meth:`speechnas.models.SpeechModel.transcribe_ids` (greedy); each utterance runs as a
    batch of one, which is what the exported graphs are for. The search over the head's
    graphs is :class:`speechnas.export.heads.HeadGraphs`'s for the model's head kind.

    Args:
        model: the exported model: its front-end computes the features (they must match
            those it was trained on), its head kind says which graphs to open and how to
            search over them.
        path: the exported first graph (``model.onnx``, any precision); the head's other
            graphs lie beside it.
        threads: ONNX Runtime intra-op threads.
    """

    def __init__(
        self, model: SpeechModel, path: str | os.PathLike[str], *, threads: int | None = None
    ) -> None:
        self.frontend = model.frontend.eval()
        self.path = Path(path)
        self.graphs: HeadGraphs = head_graphs(model)
        sessions = GraphSessions(self.path, self.graphs.names, threads=threads)
        self.session = sessions.sessions[""]
        self.run = sessions.run

    def log_probs(self, feats: Tensor) -> np.ndarray:
        """The first graph's first output for ``(B, T, F)`` whole-utterance features (a CTC
        model's ``(B, T', V)`` log-probabilities)."""
        return self.run("", {INPUT_NAME: feats.numpy()})[0]

    @torch.no_grad()
    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        feats, feat_lens = self.frontend(wave, wave_lens)
        ids: list[list[int]] = []
        for i in range(feats.shape[0]):
            item = feats[i : i + 1, : int(feat_lens[i])].contiguous()
            ids.append(self.graphs.decode(self.run, item.numpy()))
        return ids
