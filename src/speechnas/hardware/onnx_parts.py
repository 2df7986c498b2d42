"""Per-part latency of an exported model in ONNX Runtime, read from its profiler.

Legend: S samples, T feature frames, F features, T' encoder frames, V vocabulary.

A transcription on an ONNX target runs the front-end in PyTorch, the exported first graph in
ONNX Runtime (``feats (1, T, F) ->`` a CTC model's log-probabilities, a transducer's projected
encoder frames, an attention decoder's state before its first token: encoder and the head's
first products), then the rest of the greedy decoding in Python over the head's other graphs
(the collapse of a CTC path; a transducer's predictor and joiner graphs; an attention
decoder's step graph, token by token) (:class:`~speechnas.export.runtime.OnnxRecognizer`,
:meth:`~speechnas.export.heads.HeadGraphs.decode_from`). The front-end and the rest of the
decoding are timed as they run, and the rest of the decoding counts for the head. The first
graph's time is split among the other parts of :func:`~speechnas.hardware.lut.model_parts`
kernel by kernel:

* **Which part a node is.** The exporter records on each node the module path it was traced
  in (metadata ``pkg.torch.onnx.name_scopes``: ``encoder``, ``encoder.layers.3``,
  ``encoder.layers.3.attn``, ...). The deepest path that is a part's module names the part
  (stem, look-ahead, reduction, each kept layer); other paths under the encoder are its
  glue (positions, masks, the final norm), the paths of the head's modules the head's
  (``head``, a transducer's ``enc_proj``).
* **Nodes without a path** (added by the quantiser or the FP16 converter, casts the
  exporter's optimiser added, the log-softmax that runs outside the head's ``forward``)
  take the part of their consumers, or when none has one, of their producers, repeated
  until nothing changes: a quantise-activations node counts for the product it feeds.
* **ONNX Runtime rewrites the graph before it runs it** (fusions, memory layouts), and its
  profiler names the rewritten nodes. The session saves the rewritten graph; a node there
  takes the part of the node of the same name, else of the node that produced its output
  tensor, else follows the data flow as above. A kernel still without a part (ONNX Runtime
  gives unnamed nodes names of its own) counts as glue.

The optimiser merges computations several layers repeat (padding masks, position tables)
into one, and the merged node keeps the path of the first layer, so the first layer of a
model also carries those; alike layers then differ a little in measured cost.

Profiling costs time per kernel, so whole transcriptions are timed with a session without
profiling, as :class:`~speechnas.export.runtime.OnnxRecognizer` runs them; then a profiled
session runs the graph as many times on the same features, and its ``i``-th run splits the
``i``-th timed one. The time of the unprofiled call that no kernel accounts for (dispatch
between kernels, input and output copies) is shared among parts by their number of kernels;
if the kernels took longer than the unprofiled call, they are scaled down to it. Parts thus
add up to each whole run, and medians over repeats nearly so.
"""

from __future__ import annotations

import ast
import json
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from speechnas.hardware.lut import Part, model_parts, part_modules
from speechnas.recognizer import NotMeasurable
from speechnas.timing import noise

if TYPE_CHECKING:
    import onnx

    from speechnas.arch import ArchSpec
    from speechnas.models import SpeechModel

__all__ = ["measure_onnx_parts", "node_parts"]

_SCOPES = "pkg.torch.onnx.name_scopes"


def _scope_parts(model: SpeechModel) -> tuple[dict[str, int], int, int]:
    """Module path in the exported first graph -> part index (every module of the head's:
    the head); and the glue and head indices."""
    from speechnas.export.heads import head_graphs

    training = model.training
    index = {id(m): i for i, m in enumerate(part_modules(model)) if m is not None}
    first = head_graphs(model).graphs()[0].module  # puts the model in eval mode
    model.train(training)
    glue = len(part_modules(model)) - 2
    head = glue + 1
    parts = {}
    for name, module in first.named_modules():
        if id(module) in index:
            parts[name] = index[id(module)]
        elif name and name != "encoder" and not name.startswith("encoder."):
            parts[name] = head  # head, head.decoder..., a transducer's enc_proj
    return parts, glue, head


def _from_scopes(node: onnx.NodeProto, scopes: dict[str, int], glue: int) -> int | None:
    """The part of the deepest module path ``node`` was traced in; the glue for other paths
    under the encoder; ``None`` for the rest (the wrapper's own nodes and the exporter's
    nodes without a module: found from the data flow). The exporter's list ends with the
    node's own name, which matches no module path."""
    raw = next((p.value for p in node.metadata_props if p.key == _SCOPES), None)
    if raw is None:
        return None
    try:
        recorded = ast.literal_eval(raw)  # the exporter writes repr(list_of_str)
    except (ValueError, SyntaxError):
        return None
    paths = [p for p in recorded if isinstance(p, str)] if isinstance(recorded, list) else []
    for path in reversed(paths):
        if path in scopes:
            return scopes[path]
    if any(p == "encoder" or p.startswith("encoder.") for p in paths):
        return glue
    return None


def _follow_data(nodes: Sequence[onnx.NodeProto], labels: dict[str, int]) -> None:
    """Give unlabelled nodes their consumers' part, else their producers' (in place)."""
    consumers: dict[str, list[str]] = defaultdict(list)
    producers: dict[str, str] = {}
    for n in nodes:
        for t in n.input:
            consumers[t].append(n.name)
        for t in n.output:
            producers[t] = n.name
    changed = True
    while changed:
        changed = False
        for n in nodes:
            if n.name in labels:
                continue
            after = [labels[c] for t in n.output for c in consumers[t] if c in labels]
            before = [labels[producers[t]] for t in n.input if producers.get(t) in labels]
            found = after or before
            if found:
                labels[n.name] = found[0]
                changed = True


def node_parts(
    model: SpeechModel, source: onnx.ModelProto, optimized: onnx.ModelProto
) -> dict[str, int]:
    """Node name in ``optimized`` -> index into ``model_parts(model, ...)`` (module docstring).

    Args:
        model: the model that was exported.
        source: the graph given to ONNX Runtime (exported, maybe quantised or in FP16).
        optimized: the graph ONNX Runtime ran (its session's ``optimized_model_filepath``).

    Every node of ``optimized`` gets a part; those found no other way are glue.
    """
    scopes, glue, _ = _scope_parts(model)
    labels: dict[str, int] = {}
    for n in source.graph.node:
        part = _from_scopes(n, scopes, glue)
        if part is not None:
            labels[n.name] = part
    _follow_data(source.graph.node, labels)
    by_tensor = {
        t: labels[n.name] for n in source.graph.node if n.name in labels for t in n.output
    }
    out: dict[str, int] = {}
    for n in optimized.graph.node:
        if n.name in labels:
            out[n.name] = labels[n.name]
            continue
        found = [by_tensor[t] for t in n.output if t in by_tensor]
        if found:
            out[n.name] = found[0]
    _follow_data(optimized.graph.node, out)
    for n in optimized.graph.node:
        out.setdefault(n.name, glue)
    return out


def _kernel_runs(trace: Path, runs: int) -> list[Counter[str]]:
    """Microseconds per node name in each of the last ``runs`` runs of a profiler trace."""
    events: list[dict[str, Any]] = json.loads(trace.read_text())
    spans = sorted(
        (e["ts"], e["ts"] + e["dur"])
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )[-runs:]
    out: list[Counter[str]] = [Counter() for _ in spans]
    suffix = "_kernel_time"
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith(suffix):
            continue
        for i, (start, end) in enumerate(spans):
            if start <= e["ts"] <= end:
                out[i][e["name"][: -len(suffix)]] += e["dur"]
                break
    return out


def _split_run(
    kernels: Counter[str], labels: dict[str, int], count: int, wall_ms: float
) -> list[float]:
    """Milliseconds per part for one graph run whose unprofiled call took ``wall_ms``."""
    ms = [0.0] * count
    nodes = [0] * count
    for name, us in kernels.items():
        part = labels.get(name, count - 2)  # a name not in the saved graph: glue
        ms[part] += us / 1000.0
        nodes[part] += 1
    busy = sum(ms)
    if busy >= wall_ms:
        return [m * wall_ms / busy for m in ms]
    spare = (wall_ms - busy) / max(1, sum(nodes))
    return [m + spare * k for m, k in zip(ms, nodes, strict=True)]


@torch.no_grad()
def measure_onnx_parts(
    model: SpeechModel,
    spec: ArchSpec,
    graph: str | Path,
    *,
    threads: int,
    workdir: Path,
    audio_s: float = 5.0,
    warmup: int = 2,
    repeats: int = 10,
) -> tuple[list[Part], list[float], float]:
    """Time each part of ``model`` run from ``graph`` in ONNX Runtime (module docstring).

    Args:
        model: the model ``graph`` was exported from (its front-end runs in PyTorch).
        graph: the exported ``.onnx`` file (any precision).
        threads: ONNX Runtime intra-op threads (torch's are the caller's).
        workdir: where the profiler trace and the rewritten graph are written.

    Returns:
        As :meth:`speechnas.hardware.Target.measure_parts`.

    Raises:
        NotMeasurable: ONNX Runtime cannot run the graph on ``audio_s`` seconds.
    """
    import onnx

    from speechnas.export.onnx import INPUT_NAME
    from speechnas.export.runtime import OnnxRecognizer, onnx_session

    model.eval()
    parts = model_parts(model, spec, audio_s)
    recognizer = OnnxRecognizer(model, graph, threads=threads)
    optimized = workdir / f"{Path(graph).stem}.ort.onnx"
    profiled = onnx_session(
        graph, threads=threads, profile_prefix=workdir / "profile", optimized_path=optimized
    )
    labels = node_parts(model, onnx.load(str(graph)), onnx.load(str(optimized)))
    wave = noise(audio_s)
    lens = torch.tensor([wave.shape[1]])

    def first_graph(feats: torch.Tensor) -> list[Any]:
        return recognizer.run("", {INPUT_NAME: feats.numpy()})

    try:
        first_graph(recognizer.frontend(wave, lens)[0])
    except Exception as e:  # ONNX Runtime raises its own types, all plain Exceptions
        # A graph the exporter fixed to some lengths (it checks two) can fail at this one.
        raise NotMeasurable(f"{spec.summary()}: the graph fails on {audio_s:g} s: {e}") from e
    walls: list[tuple[float, float, float]] = []  # front-end, first graph, the rest (ms)
    for run in range(warmup + repeats):
        start = time.perf_counter()
        feats, _ = recognizer.frontend(wave, lens)
        ready = time.perf_counter()
        first = first_graph(feats)
        done = time.perf_counter()
        recognizer.graphs.decode_from(recognizer.run, first)
        end = time.perf_counter()
        if run >= warmup:
            walls.append((1000 * (ready - start), 1000 * (done - ready), 1000 * (end - done)))
    # The profiled runs come after the timed ones: interleaved, they slowed the front-end.
    for _ in range(warmup + repeats):
        profiled.run(None, {INPUT_NAME: feats.numpy()})  # type: ignore[attr-defined]
    trace = Path(profiled.end_profiling())  # type: ignore[attr-defined]
    kernel_runs = _kernel_runs(trace, repeats)
    trace.unlink()
    per_part: list[list[float]] = [[] for _ in parts]
    for (front, graph_ms, collapse), kernels in zip(walls, kernel_runs, strict=True):
        ms = _split_run(kernels, labels, len(parts), graph_ms)
        ms[0] += front
        ms[-1] += collapse
        for bucket, value in zip(per_part, ms, strict=True):
            bucket.append(value)
    totals = [sum(w) for w in walls]
    return parts, [statistics.median(b) for b in per_part], statistics.median(totals)
