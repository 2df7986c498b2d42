"""Running an exported CTC model with ONNX Runtime: waveform in, token ids out.

Legend: B batch, S samples, T feature frames, T' encoder frames, V vocabulary.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from speechnas.export.onnx import INPUT_NAME
from speechnas.features import Frontend
from speechnas.models.ctc import greedy_ctc_collapse

__all__ = ["OnnxRecognizer", "onnx_session"]


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


class OnnxRecognizer:
    """The model's front-end in PyTorch, then the exported encoder and CTC head in ONNX Runtime.

    ``transcribe_ids(wave (B, S), wave_lens (B,)) -> token ids per utterance`` like
    :meth:`speechnas.models.SpeechModel.transcribe_ids` (greedy); each utterance runs as a
    batch of one, which is what the exported graph is for.

    Args:
        frontend: the model's own front-end (features must match those it was trained on).
        path: the exported ``.onnx`` file (any precision).
        threads: ONNX Runtime intra-op threads.
    """

    def __init__(
        self, frontend: Frontend, path: str | os.PathLike[str], *, threads: int | None = None
    ) -> None:
        self.frontend = frontend.eval()
        self.path = Path(path)
        self.session = onnx_session(path, threads=threads)

    def log_probs(self, feats: Tensor) -> np.ndarray:
        """(B, T, F) whole-utterance features -> (B, T', V) log-probabilities."""
        out = self.session.run(None, {INPUT_NAME: feats.numpy()})  # type: ignore[attr-defined]
        return np.asarray(out[0])

    @torch.no_grad()
    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        feats, feat_lens = self.frontend(wave, wave_lens)
        ids: list[list[int]] = []
        for i in range(feats.shape[0]):
            item = feats[i : i + 1, : int(feat_lens[i])].contiguous()
            ids.append(self.decode(self.log_probs(item)[0]))
        return ids

    @staticmethod
    def decode(log_probs: np.ndarray) -> list[int]:
        """Greedy CTC: ``(T', V)`` log-probabilities of one utterance -> token ids."""
        return greedy_ctc_collapse(log_probs.argmax(axis=-1).tolist())
