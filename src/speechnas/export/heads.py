"""Each output head's decoding as ONNX graphs, and the greedy search that runs them.

Legend: B batch, T feature frames, F features, T' encoder frames, J joiner width, E decoder
width, H decoder heads, V vocabulary.

A head kind splits into graphs that ONNX Runtime runs and a search loop that stays in Python,
as the beam or greedy loop of any deployed recogniser does. The first graph (``model.onnx``)
always takes whole-utterance features, ``feats (B, T, F)``; graph ``g`` of ``X.onnx`` is
the file ``X.g.onnx`` beside it (``model.int8.onnx`` and ``model.int8.decoder.onnx`` for
INT8).

* **CTC**: ``feats -> log_probs (B, T', V)``; the search collapses the best path.
* **Transducer**: ``feats -> enc (B, T', J)`` (the encoder and the joiner's projection of
  it); ``predictor``: ``token (B,), state -> pred (B, J), next_state`` (the predictor's step
  and the joiner's projection of its output); ``joiner``: ``enc (B, J), pred (B, J) ->
  logits (B, V)``. The search is :meth:`speechnas.models.rnnt.RNNTHead.greedy_decode`'s:
  a frame emits tokens until the blank wins or the per-frame cap is reached.
* **Attention encoder-decoder**: ``feats ->`` the decoder's state before its first token
  (the memory's keys and values per layer, empty self-attention caches or zero LSTM
  states); ``decoder``: ``token (B,), state -> logits (B, V)`` and the state's changing
  tensors (``next_<name>``; a Transformer's caches grow by one position a step). The search
  is :meth:`speechnas.models.aed.AEDHead.greedy_decode`'s: argmax until eos or ``max_len``.

Every graph runs at batch 1 in deployment (the batch dimension is dynamic all the same).

A streaming model's chunk step (:mod:`speechnas.export.streaming`) ends in what the search
reads per encoder frame (:meth:`HeadGraphs.frames_module`: CTC log-probabilities, or a
transducer's projected frames), and the search runs over the streamed frames with the same
step graphs, written beside the chunk step. An attention decoder needs the whole utterance:
it does not stream.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from speechnas.errors import UserError
from speechnas.models import SpeechModel
from speechnas.models.aed import AEDHead
from speechnas.models.ctc import CTCHead, greedy_ctc_collapse
from speechnas.models.rnnt import RNNTHead

__all__ = [
    "INPUT_NAME",
    "EncoderCTC",
    "Graph",
    "HeadGraphs",
    "graph_file",
    "head_graphs",
]

INPUT_NAME = "feats"

#: ``run(graph_name, feeds) -> outputs``: one ONNX Runtime call of a graph of the export.
RunGraph = Callable[[str, Mapping[str, np.ndarray]], list[np.ndarray]]


def graph_file(main: str | os.PathLike[str], name: str) -> Path:
    """The file of graph ``name`` of the export whose first graph is ``main``
    (``""`` is ``main`` itself; ``"decoder"`` of ``model.int8.onnx`` is
    ``model.int8.decoder.onnx``)."""
    path = Path(main)
    return path if not name else path.with_name(f"{path.stem}.{name}{path.suffix}")


@dataclass(frozen=True)
class Graph:
    """One graph of an export: what is traced, and how.

    Attributes:
        name: ``""`` for the first graph, else the part of the file name it adds.
        module: computes the graph (in eval mode).
        example: ``example(frames, batch)`` gives inputs as if from utterances of
            ``frames`` feature frames. The trace uses one length at batch 2 (a size-1
            dimension would be fixed by the tracer), the export's check others at batch 1.
        input_names, output_names: the graph's tensor names, in order.
        dynamic_shapes: per input, which dimensions vary (as ``torch.export`` takes them).
    """

    name: str
    module: nn.Module
    example: Callable[[int, int], tuple[Tensor, ...]]
    input_names: list[str]
    output_names: list[str]
    dynamic_shapes: tuple[Any, ...]


class HeadGraphs(abc.ABC):
    """A head kind's decoding as ONNX graphs, and ONNX Runtime's greedy search over them.

    Contract (``tests/export/test_heads.py`` checks every kind):

    * :meth:`graphs` lists the graphs; the first is named ``""`` and takes
      :data:`INPUT_NAME` ``(B, T, F)`` whole-utterance features. Each graph's outputs match
      its module's within float32 rounding at any length.
    * :meth:`decode` ``(run, feats (1, T, F))`` gives the token ids the model's own greedy
      decoding gives for those features; it is :meth:`decode_from` of the first graph's
      outputs for them (the rest of the decoding, which runs only the other graphs).
    * :meth:`describe` says, as JSON-ready data, what a runtime needs besides the graphs
      (the search and its constants); ``deploy.json`` records it.
    * A head that streams has a :attr:`frame_output` name; :meth:`frames_module` maps the
      encoder's output ``(B, T', D)`` to the first graph's output (what the search reads),
      and :meth:`search` ``(run, frames (1, T', X))`` gives the token ids of such frames,
      running only the other graphs. Others raise :class:`UserError` from both.
    """

    #: The name of what the search reads per frame (the first graph's output); ``None``
    #: where the search needs the whole utterance instead.
    frame_output: str | None = None

    def __init__(self, model: SpeechModel) -> None:
        self.model = model.eval()

    @property
    def names(self) -> list[str]:
        """The graphs' names, the first (``""``) included."""
        return [g.name for g in self.graphs()]

    @abc.abstractmethod
    def graphs(self) -> list[Graph]:
        """The graphs to export."""

    def decode(self, run: RunGraph, feats: np.ndarray) -> list[int]:
        """Token ids of one utterance's features ``(1, T, F)``."""
        return self.decode_from(run, run("", {INPUT_NAME: feats}))

    def decode_from(self, run: RunGraph, first: Sequence[np.ndarray]) -> list[int]:
        """Token ids from the first graph's outputs for one utterance.

        Args:
            run: runs a graph by name on named inputs.
            first: the first graph's outputs for the utterance's features, in order (not
                changed).
        """
        return self.search(run, first[0])

    def frames_module(self) -> nn.Module:
        """Encoder output ``(B, T', D)`` -> what the search reads per frame."""
        raise UserError(self._no_stream())

    def search(self, run: RunGraph, frames: np.ndarray) -> list[int]:
        """Token ids of one utterance's frames ``(1, T', X)`` (the first graph's output)."""
        raise UserError(self._no_stream())

    def _no_stream(self) -> str:
        return (
            f"a {type(self.model.head).__name__} decodes from the whole utterance: streaming "
            "covers CTC and transducer heads"
        )

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """The graphs' inputs and outputs and the search's constants."""

    def _encoder_graph(self, module: nn.Module, output_names: list[str]) -> Graph:
        dynamic = torch.export.Dim.DYNAMIC
        features = self.model.frontend.num_features

        def example(frames: int, batch: int) -> tuple[Tensor, ...]:
            g = torch.Generator().manual_seed(frames)
            return (torch.randn(batch, frames, features, generator=g),)

        return Graph(
            "", module.eval(), example, [INPUT_NAME], output_names, ({0: dynamic, 1: dynamic},)
        )


def _encode(encoder: nn.Module, feats: Tensor) -> Tensor:
    """``feats (B, T, F)`` of whole utterances -> ``(B, T', D)`` encoder output."""
    # Whole utterances: every item is as long as the batch.
    lens = torch.full((feats.shape[0],), feats.shape[1], dtype=torch.long)
    enc: Tensor = encoder(feats, lens)[0]
    return enc


class EncoderCTC(nn.Module):
    """``feats (B, T, F) -> log_probs (B, T', V)``: the part of a CTC model that is exported."""

    def __init__(self, model: SpeechModel) -> None:
        super().__init__()
        if not isinstance(model.head, CTCHead):
            raise UserError(
                f"EncoderCTC needs a CTC model; this model's head is {type(model.head).__name__}"
            )
        self.encoder = model.encoder
        self.head = model.head

    def forward(self, feats: Tensor) -> Tensor:
        return self.head.log_probs(_encode(self.encoder, feats))


class _CTCFrames(nn.Module):
    def __init__(self, head: CTCHead) -> None:
        super().__init__()
        self.head = head

    def forward(self, enc: Tensor) -> Tensor:
        return self.head.log_probs(enc)


class _CTCGraphs(HeadGraphs):
    frame_output = "log_probs"

    def graphs(self) -> list[Graph]:
        return [self._encoder_graph(EncoderCTC(self.model), ["log_probs"])]

    def frames_module(self) -> nn.Module:
        assert isinstance(self.model.head, CTCHead)
        return _CTCFrames(self.model.head)

    def search(self, run: RunGraph, frames: np.ndarray) -> list[int]:
        if not frames.shape[1]:  # no frame (an utterance shorter than one)
            return []
        # (1, T', V) -> (T',) best path
        return greedy_ctc_collapse(frames[0].argmax(axis=-1).tolist())

    def describe(self) -> dict[str, Any]:
        return {
            "head": "ctc",
            "graphs": {"": "feats (B, T, F) -> log_probs (B, T', V)"},
            "search": "argmax per frame, repeats merged, blanks (id 0) removed",
        }


class _TransducerEncoder(nn.Module):
    def __init__(self, model: SpeechModel, head: RNNTHead) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.enc_proj = head.enc_proj

    def forward(self, feats: Tensor) -> Tensor:
        return self.enc_proj(_encode(self.encoder, feats))  # type: ignore[no-any-return]


class _TransducerPredictor(nn.Module):
    def __init__(self, head: RNNTHead) -> None:
        super().__init__()
        self.predictor = head.predictor
        self.pred_proj = head.pred_proj

    def forward(self, token: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        out, next_state = self.predictor.step(token, state)
        return self.pred_proj(out), next_state


class _TransducerJoiner(nn.Module):
    def __init__(self, head: RNNTHead) -> None:
        super().__init__()
        self.out = head.out

    def forward(self, enc: Tensor, pred: Tensor) -> Tensor:
        # The argmax is the search's only use: the log-softmax would not change it.
        return self.out(torch.tanh(enc + pred))  # type: ignore[no-any-return]


class _TransducerGraphs(HeadGraphs):
    frame_output = "enc"

    def __init__(self, model: SpeechModel) -> None:
        super().__init__(model)
        assert isinstance(model.head, RNNTHead)
        self.head: RNNTHead = model.head

    def _initial_state(self) -> Tensor:
        return self.head.predictor.initial_state(1)

    def graphs(self) -> list[Graph]:
        head, dynamic = self.head, torch.export.Dim.DYNAMIC
        batch = {0: dynamic}

        def predictor_example(frames: int, batch: int) -> tuple[Tensor, ...]:
            g = torch.Generator().manual_seed(frames)
            token = torch.randint(1, head.vocab_size, (batch,), generator=g)
            state = head.predictor.initial_state(batch)
            if state.is_floating_point():
                state = torch.randn(state.shape, generator=g)
            else:
                state = torch.randint(0, head.vocab_size, state.shape, generator=g)
            return token, state

        def joiner_example(frames: int, batch: int) -> tuple[Tensor, ...]:
            g = torch.Generator().manual_seed(frames)
            pair = torch.randn(2, batch, head.dim, generator=g)
            return pair[0], pair[1]

        return [
            self._encoder_graph(_TransducerEncoder(self.model, head), ["enc"]),
            Graph(
                "predictor",
                _TransducerPredictor(head).eval(),
                predictor_example,
                ["token", "state"],
                ["pred", "next_state"],
                (batch, batch),
            ),
            Graph(
                "joiner",
                _TransducerJoiner(head).eval(),
                joiner_example,
                ["enc", "pred"],
                ["logits"],
                (batch, batch),
            ),
        ]

    def frames_module(self) -> nn.Module:
        return self.head.enc_proj

    def search(self, run: RunGraph, frames: np.ndarray) -> list[int]:
        blank, cap = self.head.blank, self.head.max_symbols_per_frame
        enc = frames  # (1, T', J)

        def predict(token: int, state: np.ndarray) -> list[np.ndarray]:
            return run("predictor", {"token": np.array([token], dtype=np.int64), "state": state})

        pred, state = predict(blank, self._initial_state().numpy())
        hyp: list[int] = []
        for t in range(enc.shape[1]):
            for _ in range(cap):
                logits = run("joiner", {"enc": enc[:, t], "pred": pred})[0]  # (1, V)
                best = int(logits[0].argmax())
                if best == blank:
                    break
                hyp.append(best)
                pred, state = predict(best, state)
        return hyp

    def describe(self) -> dict[str, Any]:
        state = self._initial_state()
        return {
            "head": "rnnt",
            "graphs": {
                "": "feats (B, T, F) -> enc (B, T', J)",
                "predictor": "token (B,) int64, state -> pred (B, J), next_state",
                "joiner": "enc (B, J), pred (B, J) -> logits (B, V)",
            },
            "search": "per frame: emit the joiner's argmax and step the predictor until the "
            "blank (id 0) wins or max_symbols_per_frame tokens were emitted; the predictor "
            "starts by reading the blank from initial_state",
            "blank": self.head.blank,
            "max_symbols_per_frame": self.head.max_symbols_per_frame,
            "initial_state": {
                "shape": list(state.shape),
                "dtype": str(state.numpy().dtype),
                "fill": state.flatten()[0].item(),  # every element: zeros, or the blank
            },
        }


class _AEDStart(nn.Module):
    """``feats -> `` the decoder's state before its first token, as a tuple in ``names``."""

    def __init__(self, model: SpeechModel, head: AEDHead, names: Sequence[str]) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.head = head
        self.names = list(names)

    def forward(self, feats: Tensor) -> tuple[Tensor, ...]:
        memory = self.head.enc_proj(_encode(self.encoder, feats))  # (B, T', E)
        valid = torch.ones(memory.shape[:2], dtype=torch.bool)  # whole utterances
        state = self.head.decoder.init_state(memory, valid)
        return tuple(state[name] for name in self.names)


class _AEDStep(nn.Module):
    """``token (B,), state... -> logits (B, V), changing state...`` (every frame valid)."""

    def __init__(self, head: AEDHead, names: Sequence[str], changing: Sequence[str]) -> None:
        super().__init__()
        self.decoder = head.decoder
        self.names = list(names)
        self.changing = list(changing)

    def forward(self, token: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        named = dict(zip(self.names, state, strict=True))
        keys = named[self.names[0]]  # (B, ..., T', ...) memory keys: the mask's shape
        named["mem_mask"] = torch.ones(keys.shape[0], keys.shape[-2], dtype=torch.bool)
        logits, after = self.decoder.step(token, named)
        return (logits, *(after[name] for name in self.changing))


class _AEDGraphs(HeadGraphs):
    def __init__(self, model: SpeechModel) -> None:
        super().__init__(model)
        assert isinstance(model.head, AEDHead)
        self.head: AEDHead = model.head
        self._names, self._changing, self._dynamic = self._state_layout()

    def _state(
        self, frames: int, steps: int, seed: int, batch: int = 2
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The last token and the state after ``steps`` greedy steps over random memory of
        ``frames`` frames."""
        g = torch.Generator().manual_seed(seed)
        head = self.head
        with torch.no_grad():
            enc = torch.randn(batch, frames, head.d_model, generator=g)
            memory, mask = head._memory(enc, torch.full((batch,), frames))
            state = head.decoder.init_state(memory, mask)
            token = torch.zeros(batch, dtype=torch.long)
            for _ in range(steps):
                logits, state = head.decoder.step(token, state)
                token = logits.argmax(dim=-1)
        return token, state

    def _state_layout(self) -> tuple[list[str], list[str], list[dict[int, Any]]]:
        """State tensor names (memory keys first), those a step changes, and each one's
        dynamic dimensions: those that differ between two utterances and positions."""
        _, a = self._state(5, 2, 0)
        _, b = self._state(7, 3, 0)
        names = sorted(
            (n for n in a if n != "mem_mask"), key=lambda n: (not n.startswith("mem_k"), n)
        )
        token = torch.zeros(2, dtype=torch.long)
        with torch.no_grad():
            _, after = self.head.decoder.step(token, a)
        changing = [n for n in names if after[n] is not a[n]]
        dynamic = torch.export.Dim.DYNAMIC
        dims = [
            {d: dynamic for d in range(a[n].dim()) if d == 0 or a[n].shape[d] != b[n].shape[d]}
            for n in names
        ]
        return names, changing, dims

    def graphs(self) -> list[Graph]:
        names, changing = self._names, self._changing

        def step_example(frames: int, batch: int) -> tuple[Tensor, ...]:
            token, state = self._state(max(2, frames // 4), 2 + frames % 3, frames, batch)
            return (token, *(state[n] for n in names))

        start = self._encoder_graph(_AEDStart(self.model, self.head, names), list(names))
        step = Graph(
            "decoder",
            _AEDStep(self.head, names, changing).eval(),
            step_example,
            ["token", *names],
            ["logits", *(f"next_{n}" for n in changing)],
            ({0: torch.export.Dim.DYNAMIC}, tuple(self._dynamic)),
        )
        return [start, step]

    def decode_from(self, run: RunGraph, first: Sequence[np.ndarray]) -> list[int]:
        eos = self.head.eos
        state = dict(zip(self._names, first, strict=True))
        frames = int(state[self._names[0]].shape[-2])
        if not frames:  # nothing to attend to (the model itself refuses such an utterance)
            return []
        limit = self.head.max_len(frames)
        token = eos
        hyp: list[int] = []
        while True:
            out = run("decoder", {"token": np.array([token], dtype=np.int64), **state})
            token = int(out[0][0].argmax())
            if token == eos:
                return hyp
            hyp.append(token)
            if len(hyp) >= limit:
                return hyp
            state.update(zip(self._changing, out[1:], strict=True))

    def describe(self) -> dict[str, Any]:
        return {
            "head": "aed",
            "graphs": {
                "": f"feats (B, T, F) -> {', '.join(self._names)}",
                "decoder": f"token (B,) int64, {', '.join(self._names)} -> logits (B, V), "
                + ", ".join(f"next_{n}" for n in self._changing),
            },
            "search": "start from token 0 (start symbol); feed each step's argmax and its "
            "next_* state back until the argmax is eos (id 0) or the hypothesis holds "
            "max(1, int(max_len_ratio * T')) tokens, T' the frames of the memory keys",
            "eos": self.head.eos,
            "max_len_ratio": self.head.max_len_ratio,
        }


def head_graphs(model: SpeechModel) -> HeadGraphs:
    """The :class:`HeadGraphs` of ``model``'s head.

    Raises:
        UserError: a head kind that is not exported.
    """
    head = model.head
    if isinstance(head, CTCHead):
        return _CTCGraphs(model)
    if isinstance(head, RNNTHead):
        return _TransducerGraphs(model)
    if isinstance(head, AEDHead):
        return _AEDGraphs(model)
    raise UserError(f"ONNX export does not cover {type(head).__name__} heads")
