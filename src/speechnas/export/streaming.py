"""ONNX export of a streaming model's chunk step, with its whole state as tensors.

Legend: B batch (1 in a stream), F features, Cf feature frames per chunk, C frames per chunk at
the first layer's input rate (the stem's output rate), C' encoder frames per chunk, V
vocabulary, J joiner width.

One graph runs one chunk::

    feats (1, Cf, F), stem_valid (), chunk_start (), chunk_valid (), *state
        -> frames (1, C', X), *state

The frames are what the head's greedy search reads (:mod:`speechnas.export.heads`): a CTC
model's log-probabilities (``log_probs``, X = V), or a transducer's encoder frames projected
for its joiner (``enc``, X = J), whose search runs the predictor and joiner graphs written
beside the chunk step (``model.stream.predictor.onnx``, ``model.stream.joiner.onnx``).

Every piece of a stream's state is a fixed-shape tensor that goes in and comes out: the
stem's convolution histories, the look-ahead's waiting frames, the frames buffered until a
chunk is whole, and each layer's state (attention key/value caches and positions,
convolution histories, LSTM states, running means). Nothing in the graph depends on how far
the stream has got, so the same graph serves every chunk.

Three integer scalars say which frames are speech, so that the first and last chunks need no
graph of their own:

* ``stem_valid``: how many of the chunk's stem frames are speech; the rest (a stream's padded
  end) are zeroed, as whole-utterance inference zeroes frames past the end.
* ``chunk_start``: the position of the layer chunk this step completes.
* ``chunk_valid``: how many of that chunk's frames are speech. With 0 (a chunk before the
  first, or after the last) the layers' states come out unchanged.

A look-ahead of ``L`` stem frames delays the layers: the chunk that a step completes is
``delay = ceil(L / C)`` chunks behind the chunk of features it was given, so a stream runs
``delay`` extra steps on zero features at the end. :class:`ChunkSchedule` works out the
scalars of every step for an utterance, and :func:`run_stream` drives any step function (the
PyTorch module or the ONNX Runtime session) through it.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from speechnas.errors import UserError
from speechnas.export.heads import graph_file, head_graphs
from speechnas.export.onnx import ExportError, check_graph, save_graph, save_program
from speechnas.models import SpeechModel

__all__ = [
    "ChunkSchedule",
    "OnnxChunkStream",
    "OnnxStreamingRecognizer",
    "StreamStep",
    "export_streaming",
    "run_stream",
]

FEATS = "feats"
SCALARS = ("stem_valid", "chunk_start", "chunk_valid")


def _flatten(tree: Any) -> list[Tensor]:
    """The tensors of nested lists/tuples, depth first."""
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _flatten(item)]
    return [tree]


def _unflatten(template: Any, leaves: Iterator[Tensor]) -> Any:
    """Rebuild ``template``'s nesting around the next tensors of ``leaves``."""
    if isinstance(template, tuple):
        return tuple(_unflatten(item, leaves) for item in template)
    if isinstance(template, list):
        return [_unflatten(item, leaves) for item in template]
    return next(leaves)


def _as_tensors(tree: Any) -> Any:
    """Ints (positions, frame counts) become 0-dim int64 tensors."""
    if isinstance(tree, tuple):
        return tuple(_as_tensors(item) for item in tree)
    if isinstance(tree, list):
        return [_as_tensors(item) for item in tree]
    if isinstance(tree, int):
        return torch.tensor(tree, dtype=torch.long)
    return tree


def _keep_valid(h: Tensor, valid: Tensor) -> Tensor:
    """Zero the frames of ``h`` (B, T, D) from ``valid`` on."""
    frames = torch.arange(h.shape[1], device=h.device)
    return h * (frames < valid).to(h.dtype)[None, :, None]


class StreamStep(nn.Module):
    """One chunk of a streaming model (see the module docstring), as an exportable module.

    Args:
        model: a CTC or transducer model whose encoder streams (built from a spec with
            ``streaming``).

    Raises:
        UserError: the head does not stream, or the model does not.
    """

    def __init__(self, model: SpeechModel) -> None:
        super().__init__()
        self.graphs = head_graphs(model)
        self.frames = self.graphs.frames_module()  # the head's part of the step
        self.frame_output = str(self.graphs.frame_output)
        enc = model.encoder
        if enc.chunk is None:
            raise UserError(
                "streaming ONNX export needs a streaming architecture (a spec with "
                "'streaming' set); this one is full-context: export it whole instead"
            )
        self.encoder = enc
        self.features = model.frontend.num_features
        self.feature_chunk = enc.input_chunk
        self.chunk = enc.chunk * (2 if enc.reduction is not None else 1)
        lookahead = enc.lookahead.frames if enc.lookahead is not None else 0
        self.lookahead = lookahead
        self.delay = math.ceil(lookahead / self.chunk)
        self.buffered = self.delay * self.chunk - lookahead
        self.out_chunk = enc.chunk
        self._template = self._initial()

    def _initial(self) -> tuple[Any, ...]:
        """The state before a stream's first chunk (ints as tensors), batch of one."""
        enc = self.encoder
        w = enc.norm.weight
        with torch.no_grad():
            zeros = torch.zeros(1, self.feature_chunk, self.features, dtype=w.dtype)
            _, shapes = enc.stem.step(zeros, enc.stem.initial_state(1))
        stem = [torch.zeros_like(s) for s in shapes if s is not None]
        pending = torch.zeros(1, self.lookahead, enc.stem_width, dtype=w.dtype)
        buffer = torch.zeros(1, self.buffered, enc.stem_width, dtype=w.dtype)
        layers = [_as_tensors(layer.initial_state(1)) for layer in enc.kept_layers]
        return stem, pending, buffer, layers

    def initial_state(self) -> list[Tensor]:
        """The flat state tensors to feed the first step."""
        return [t.clone() for t in _flatten(self._template)]

    @property
    def state_names(self) -> list[str]:
        return [f"state{i}" for i in range(len(_flatten(self._template)))]

    @property
    def layer_state_count(self) -> int:
        """How many of the (last) state tensors belong to the layers."""
        return len(_flatten(self._template[3]))

    def forward(
        self,
        feats: Tensor,
        stem_valid: Tensor,
        chunk_start: Tensor,
        chunk_valid: Tensor,
        *state: Tensor,
    ) -> tuple[Tensor, ...]:
        """One chunk; see the module docstring for the inputs and outputs."""
        enc = self.encoder
        stem_state, pending, buffer, layer_states = _unflatten(self._template, iter(state))
        h, new_stem = enc.stem.step(feats, stem_state)  # (1, C, Ds)
        h = _keep_valid(h, stem_valid)
        if enc.lookahead is not None:
            h, pending = enc.lookahead.step(h, pending)  # C frames complete, L still waiting
        if self.delay:
            whole = torch.cat([buffer, h], dim=1)
            h, buffer = whole[:, : self.chunk], whole[:, self.chunk :]
        valid = chunk_valid
        h = _keep_valid(enc.post_stem(h, chunk_start), valid)
        new_layers = []
        for i, layer in enumerate(enc.kept_layers):
            if i == enc.reduction_at:
                assert enc.reduction is not None
                h = enc.reduction.step(h)
                valid = torch.div(valid + 1, 2, rounding_mode="floor")
            h, layer_state = layer.step(h, layer_states[i], valid)
            h = _keep_valid(h, valid)
            new_layers.append(layer_state)
        frames = self.frames(enc.norm(h))
        # A chunk with no speech (before the first, after the last) leaves the layers alone.
        speech = chunk_valid > 0
        kept = [
            torch.where(speech, new, old)
            for new, old in zip(_flatten(new_layers), _flatten(layer_states), strict=True)
        ]
        return (frames, *new_stem, pending, buffer, *kept)


@dataclass(frozen=True)
class ChunkSchedule:
    """The scalars of every step of a stream of ``feature_frames`` frames.

    ``steps`` lists ``(stem_valid, chunk_start, chunk_valid, out_valid)`` per step, where
    ``out_valid`` is how many of the step's output frames belong to the utterance.
    """

    feature_frames: int
    feature_chunk: int
    steps: tuple[tuple[int, int, int, int], ...]

    @classmethod
    def for_utterance(cls, step: StreamStep, feature_frames: int) -> ChunkSchedule:
        enc = step.encoder
        stem_frames = enc.frames_after_stem(feature_frames)
        c = step.chunk
        chunks = -(-stem_frames // c)
        halved = enc.reduction is not None
        steps = []
        for k in range(chunks + step.delay):
            j = k - step.delay
            chunk_valid = min(max(stem_frames - j * c, 0), c) if j >= 0 else 0
            out_valid = (chunk_valid + 1) // 2 if halved else chunk_valid
            steps.append((min(max(stem_frames - k * c, 0), c), j * c, chunk_valid, out_valid))
        return cls(feature_frames, step.feature_chunk, tuple(steps))

    def chunk_feats(self, feats: np.ndarray, k: int) -> np.ndarray:
        """Step ``k``'s (1, Cf, F) features, zero past the utterance's end."""
        part = feats[:, k * self.feature_chunk : (k + 1) * self.feature_chunk]
        missing = self.feature_chunk - part.shape[1]
        if missing:
            part = np.pad(part, ((0, 0), (0, missing), (0, 0)))
        return np.ascontiguousarray(part, dtype=np.float32)


#: One step: feats, the three scalars and the state in; the frames and the state out.
StepFn = Callable[[np.ndarray, Sequence[np.ndarray], Sequence[np.ndarray]], list[np.ndarray]]


def run_stream(
    step: StepFn, schedule: ChunkSchedule, feats: np.ndarray, state: Sequence[np.ndarray]
) -> np.ndarray:
    """Feed ``feats`` (1, T, F) through ``step`` chunk by chunk -> (1, T', X) frames."""
    outs = []
    width = 0
    for k, (stem_valid, start, valid, out_valid) in enumerate(schedule.steps):
        scalars = [np.asarray(v, dtype=np.int64) for v in (stem_valid, start, valid)]
        frames, *state = step(schedule.chunk_feats(feats, k), scalars, state)
        width = frames.shape[-1]
        if out_valid:
            outs.append(frames[:, :out_valid])
    if not outs:  # an utterance too short to complete a frame
        return np.zeros((1, 0, width), dtype=np.float32)
    return np.concatenate(outs, axis=1)


def torch_step_fn(module: StreamStep) -> StepFn:
    """``module`` as a :data:`StepFn` (the reference an exported graph is checked against)."""

    def run(
        feats: np.ndarray, scalars: Sequence[np.ndarray], state: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        with torch.no_grad():
            args = [torch.from_numpy(np.asarray(a)) for a in (feats, *scalars, *state)]
            return [t.numpy() for t in module(*args)]

    return run


def onnx_step_fn(session: Any) -> StepFn:
    """An ONNX Runtime session of an exported step as a :data:`StepFn`."""
    names = [i.name for i in session.get_inputs()]

    def run(
        feats: np.ndarray, scalars: Sequence[np.ndarray], state: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        values = [feats, *scalars, *state]
        return list(session.run(None, dict(zip(names, values, strict=True))))

    return run


def export_streaming(
    model: SpeechModel,
    path: str | os.PathLike[str],
    *,
    search_graphs_of: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``model``'s chunk step to ``path`` as ONNX and check it against PyTorch; a
    transducer's predictor and joiner graphs go beside it.

    The check streams a seeded utterance of four and a half chunks (first, steady, partial
    last and, with look-ahead, the flush steps) through both and compares the frames of
    every step (the states are checked through them). Nothing is left behind where it fails.

    Args:
        search_graphs_of: the first graph of a whole-utterance export of the same model
            (:func:`speechnas.export.onnx.export_onnx`, FP32) whose search graphs are copied
            rather than exported again (a second LSTM export in one process can go wrong,
            see there).

    Raises:
        UserError: the model does not stream, or its head does not.
        ExportError: the exporter failed, or the graph differs from the model.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    step = StreamStep(model).eval()
    try:
        _write_search_graphs(step, out, search_graphs_of)
        _write_chunk_step(step, out)
    except BaseException:
        for name in step.graphs.names:
            graph_file(out, name).unlink(missing_ok=True)
        raise
    return out


def _write_search_graphs(
    step: StreamStep, out: Path, source: str | os.PathLike[str] | None
) -> None:
    """The head's search graphs beside the chunk step ``out``: copied from ``source``'s,
    or exported and checked."""
    for graph in step.graphs.graphs()[1:]:
        target = graph_file(out, graph.name)
        if source is not None and graph_file(source, graph.name).is_file():
            shutil.copyfile(graph_file(source, graph.name), target)
        else:
            save_graph(graph, target)
            check_graph(graph, target)


def _write_chunk_step(step: StreamStep, out: Path) -> None:
    state = step.initial_state()
    feats = torch.zeros(1, step.feature_chunk, step.features)
    scalars = [torch.tensor(v, dtype=torch.long) for v in (step.chunk, 0, step.chunk)]
    try:
        save_program(
            step,
            (feats, *scalars, *state),
            out,
            input_names=[FEATS, *SCALARS, *step.state_names],
            output_names=[step.frame_output, *(f"next_{n}" for n in step.state_names)],
        )
    except ExportError as e:
        raise ExportError(f"streaming {e}") from e
    _check(step, out)


def _check(step: StreamStep, path: Path) -> None:
    from speechnas.export.runtime import onnx_session

    frames = step.feature_chunk * 4 + step.feature_chunk // 2 + 1
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, frames, step.features, generator=g).numpy()
    schedule = ChunkSchedule.for_utterance(step, frames)
    state = [s.numpy() for s in step.initial_state()]
    expected = run_stream(torch_step_fn(step), schedule, feats, state)
    try:
        got = run_stream(onnx_step_fn(onnx_session(path, threads=1)), schedule, feats, state)
    except Exception as e:  # ONNX Runtime raises its own types
        raise ExportError(f"the exported chunk step fails: {e}") from e
    if got.shape != expected.shape or float(np.abs(got - expected).max()) > 1e-3:
        raise ExportError("the exported chunk step differs from the model")


def _searcher(
    step: StreamStep, path: str | os.PathLike[str], threads: int | None
) -> Callable[[np.ndarray], list[int]]:
    """The head's search over ``(1, T', X)`` streamed frames, with its graphs beside the
    exported chunk step ``path``."""
    from speechnas.export.runtime import GraphSessions

    sessions = GraphSessions(path, step.graphs.names[1:], threads=threads)
    return functools.partial(step.graphs.search, sessions.run)


class OnnxStreamingRecognizer:
    """The exported chunk step run chunk by chunk: waveform in, token ids out (greedy).

    The front-end runs in PyTorch on each whole utterance (a deployment computes the same
    frames as audio arrives), then its frames go through the graph one chunk at a time, the
    state carried from step to step, exactly as in a live stream; the head's search reads
    the streamed frames.

    Args:
        model: the model the graph was exported from (its front-end and streaming layout).
        path: the exported chunk-step ``.onnx`` file (any precision); a transducer's search
            graphs lie beside it.
        threads: ONNX Runtime intra-op threads.
    """

    def __init__(
        self, model: SpeechModel, path: str | os.PathLike[str], *, threads: int | None = None
    ) -> None:
        from speechnas.export.runtime import onnx_session

        self.frontend = model.frontend.eval()
        self.step = StreamStep(model).eval()
        self.initial = [s.numpy() for s in self.step.initial_state()]
        self.run = onnx_step_fn(onnx_session(path, threads=threads))
        self.search = _searcher(self.step, path, threads)

    def log_probs(self, feats: np.ndarray) -> np.ndarray:
        """(1, T, F) features -> (1, T', X) frames, streamed (a CTC model's
        log-probabilities)."""
        schedule = ChunkSchedule.for_utterance(self.step, feats.shape[1])
        return run_stream(self.run, schedule, feats, self.initial)

    def chunk_seconds(self, feats: np.ndarray) -> list[float]:
        """Wall time of each step of streaming ``feats`` (1, T, F), in order: the chunk step
        and the search over the frames it completes (restarted per chunk, as the targets'
        chunk streams time it)."""
        times: list[float] = []

        def timed(
            f: np.ndarray, scalars: Sequence[np.ndarray], state: Sequence[np.ndarray]
        ) -> list[np.ndarray]:
            start = time.perf_counter()
            out = self.run(f, scalars, state)
            if int(scalars[2]) and out[0].shape[1]:  # chunk_valid: the step completed frames
                self.search(out[0])
            times.append(time.perf_counter() - start)
            return out

        run_stream(
            timed, ChunkSchedule.for_utterance(self.step, feats.shape[1]), feats, self.initial
        )
        return times

    @torch.no_grad()
    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        feats, feat_lens = self.frontend(wave, wave_lens)
        ids: list[list[int]] = []
        for i in range(feats.shape[0]):
            item = feats[i : i + 1, : int(feat_lens[i])].numpy()
            ids.append(self.search(self.log_probs(item)))
        return ids


class OnnxChunkStream:
    """A live stream through the exported chunk step: push chunks as they arrive.

    ``push(feats (1, Cf, F)) -> (1, n, X)`` frames of the encoder frames that chunk completes
    (none while the look-ahead delay fills); ``search(frames)`` decodes frames with the head's
    search graphs. Every chunk is taken as whole speech; the end of a stream (flush) is
    :func:`run_stream`'s business, which knows the length.
    """

    def __init__(self, model: SpeechModel, path: str | os.PathLike[str], *, threads: int) -> None:
        from speechnas.export.runtime import onnx_session

        self.step = StreamStep(model).eval()
        self.state = [s.numpy() for s in self.step.initial_state()]
        self.run = onnx_step_fn(onnx_session(path, threads=threads))
        self.search = _searcher(self.step, path, threads)
        self.pushed = 0

    def push(self, feats: np.ndarray) -> np.ndarray:
        c = self.step.chunk
        k, self.pushed = self.pushed, self.pushed + 1
        valid = c if k >= self.step.delay else 0
        start = (k - self.step.delay) * c
        scalars = [np.asarray(v, dtype=np.int64) for v in (c, start, valid)]
        frames, *self.state = self.run(feats, scalars, self.state)
        return frames if valid else frames[:, :0]
