"""How far two latency measurements of one model differ, by measurement protocol.

Runs, from the repository root (run nothing else heavy: it measures the machine's noise):

    .venv/bin/python benchmarks/latency_noise.py [--models 40] [--threads 1 2]

``--models`` architectures are drawn from the default CTC space (stratified by family and
depth, seed 3; streaming and full-context), built untrained, and each is timed transcribing
5 s of noise at batch 1 with every protocol below, in two passes over all the models (the
second pass starts after the first has finished, so the machine has drifted between them as
it does between a table's profiling and a search's measurement). Per protocol and thread
count: the share of models whose two measurements lie within +-10% of each other (the noise
floor a latency predictor cannot beat; goal >= 95%), Kendall's tau between the passes, the
median relative difference, and the timing cost per model.

Protocols (each call is one ``transcribe_ids``):

* ``search``: 2 warm-up calls, the median of 5 (a search's default ``latency_repeats``,
  as it was measured before ``blocks-of-5``);
* ``blocks-of-5``: 3 blocks of 2 warm-up and 5 timed calls, the lowest block median (the
  block protocol of :func:`speechnas.timing.measure_latency` with 5 calls per block);
* ``median-10``: 2 warm-up calls, the median of 10 (``profile`` and the tables);
* ``median-30``: 5 warm-up calls, the median of 30;
* ``min-of-blocks``: 5 warm-up calls, then 3 blocks of 10 calls: the lowest block median
  (a burst of load from a neighbour lifts some blocks, not the one it missed);
* ``lower-quartile``: 5 warm-up calls, the 25th percentile of 30 calls;
* ``pinned``: as ``min-of-blocks`` with the process pinned to its first ``threads`` CPUs
  (``os.sched_setaffinity``, Linux), so the scheduler does not move it between cores;
* ``min-30``: 5 warm-up calls, the fastest of 30;
* ``calibrated``: 3 rounds, each a block of 10 calls of a fixed reference model (a 4-layer
  Conformer, width 144) then a block of 10 of the model: the model's lowest block median
  over the reference's, times the reference's own time when the run started. A slowdown of
  the whole machine (a neighbour's load, a lower clock) slows both alike and cancels.

``--protocols`` measures only those named (the others' figures kept), so a protocol added
later is measured in two passes of its own.

Rows are written to ``benchmarks/results/latency_noise.json`` as each model's pass finishes
(an interrupted run resumes); BENCHMARKS.md "Latency noise floor".
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechnas._provenance import cpu_name
from speechnas.arch import ArchSpec
from speechnas.bench import kendall_tau
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.tables import sample_specs
from speechnas.reports import markdown_table, update_section
from speechnas.space import SpeechSpace
from speechnas.timing import noise, threads

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "latency_noise.json"
SPACE = SpeechSpace(decoders=("ctc",), streaming="both", max_layers=8)
AUDIO_S = 5.0


def _calls(fn: Callable[[], object], warmup: int, count: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _min_of_blocks(fn: Callable[[], object]) -> float:
    blocks = [_calls(fn, 5 if k == 0 else 0, 10) for k in range(3)]
    return min(statistics.median(b) for b in blocks)


@contextmanager
def _pinned(count: int) -> Iterator[None]:
    """The process on its first ``count`` allowed CPUs for the block (where Linux allows)."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(before)[:count])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _pinned_blocks(fn: Callable[[], object], count: int) -> float:
    with _pinned(count):
        return _min_of_blocks(fn)


#: The calibration model of ``calibrated``: a mid-sized Conformer.
REFERENCE = ArchSpec.uniform(
    num_layers=4, width=144, heads=4, ffn_expansion=4.0, kernel=15, attention="rel"
)


def _transcriber(spec: ArchSpec) -> Callable[[], object]:
    model = untrained_model(spec)
    wave = noise(AUDIO_S)
    lens = torch.tensor([wave.shape[1]])
    return lambda: model.transcribe_ids(wave, lens)


def _calibrated(fn: Callable[[], object], ref: Callable[[], object], ref_s: float) -> float:
    ref_blocks, blocks = [], []
    for k in range(3):
        ref_blocks.append(statistics.median(_calls(ref, 5 if k == 0 else 0, 10)))
        blocks.append(statistics.median(_calls(fn, 5 if k == 0 else 0, 10)))
    return min(blocks) / min(ref_blocks) * ref_s


def protocols(
    count: int, ref: Callable[[], object], ref_s: float
) -> dict[str, Callable[[Callable[[], object]], float]]:
    """Seconds per call of ``fn`` by each protocol (module docstring)."""
    return {
        "search": lambda fn: statistics.median(_calls(fn, 2, 5)),
        "blocks-of-5": lambda fn: min(statistics.median(_calls(fn, 2, 5)) for _ in range(3)),
        "median-10": lambda fn: statistics.median(_calls(fn, 2, 10)),
        "median-30": lambda fn: statistics.median(_calls(fn, 5, 30)),
        "min-of-blocks": _min_of_blocks,
        "lower-quartile": lambda fn: float(np.percentile(_calls(fn, 5, 30), 25)),
        "pinned": lambda fn: _pinned_blocks(fn, count),
        "min-30": lambda fn: min(_calls(fn, 5, 30)),
        "calibrated": lambda fn: _calibrated(fn, ref, ref_s),
    }


def measure(spec: ArchSpec, count: int, names: list[str], ref_s: float) -> dict[str, list[float]]:
    """Protocols ``names``' figures (ms) for ``spec`` at ``count`` threads, and their cost
    (s)."""
    fn = _transcriber(spec)
    out = {}
    with threads(count), torch.no_grad():
        every = protocols(count, _transcriber(REFERENCE), ref_s)
        for name in names:
            start = time.perf_counter()
            value = every[name](fn)
            out[name] = [1000 * value, time.perf_counter() - start]
    return out


def _reference_seconds(results: dict[str, Any], count: int) -> float:
    """The reference model's time at ``count`` threads, measured once per results file."""
    key = f"reference_s_{count}t"
    if key not in results["info"]:
        fn = _transcriber(REFERENCE)
        with threads(count), torch.no_grad():
            results["info"][key] = statistics.median(_calls(fn, 5, 30))
    return float(results["info"][key])


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    specs = sample_specs(SPACE, args.models, seed=3, stratified=True)
    info = results.setdefault("info", {})
    info |= {"cpu": cpu_name(), "torch": torch.__version__, "models": len(specs)}
    for count in args.threads:
        rows = results.setdefault(f"{count}t", {})
        ref_s = _reference_seconds(results, count)
        for rep in ("first", "second"):
            for spec in specs:
                key = f"{spec.arch_id}/{rep}"
                missing = [n for n in args.protocols if n not in rows.get(key, {})]
                if not missing:
                    continue
                rows[key] = rows.get(key, {}) | measure(spec, count, missing, ref_s)
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
                print(f"{count}t {rep} {spec.summary()}: {rows[key]}", flush=True)
    return results


def summarise(results: dict[str, Any]) -> list[list[str]]:
    table = []
    for threads_key in sorted(k for k in results if k.endswith("t")):
        rows = results[threads_key]
        every = sorted({k.split("/")[0] for k in rows if k.endswith("/second")})
        for name in protocols(1, lambda: None, 1.0):
            # The models this protocol measured in both passes (a run may have stopped).
            archs = [
                a
                for a in every
                if name in rows.get(f"{a}/first", {}) and name in rows[f"{a}/second"]
            ]
            if not archs:
                continue
            first = np.array([rows[f"{a}/first"][name][0] for a in archs])
            second = np.array([rows[f"{a}/second"][name][0] for a in archs])
            rel = np.abs(second - first) / first
            cost = float(np.mean([rows[f"{a}/{r}"][name][1] for a in archs for r in ("first",)]))
            table.append(
                [
                    f"{threads_key[:-1]}",
                    name,
                    str(len(archs)),
                    f"{100 * float(np.mean(rel <= 0.10)):.0f}%",
                    f"{kendall_tau(first, second):.3f}",
                    f"{100 * float(np.median(rel)):.1f}%",
                    f"{cost:.1f}",
                ]
            )
    return table


def section(results: dict[str, Any]) -> str:
    info = results["info"]
    return "\n".join(
        [
            f"Measured on {info['cpu']}, torch {info['torch']}: untrained models of the default "
            "CTC space (stratified by family and depth, up to 8 layers, streaming and "
            "full-context), 5 s of noise at batch 1, each timed twice by every protocol in two "
            "passes over all the models (protocols added later measured in two passes of their "
            "own; see `benchmarks/latency_noise.py` for the protocols). "
            "Within +-10%: the share of models whose two measurements agree that closely, the "
            "noise floor under any latency predictor (goal >= 95%).",
            "",
            markdown_table(
                [
                    "threads",
                    "protocol",
                    "models",
                    "within +-10%",
                    "Kendall tau",
                    "median difference",
                    "seconds per model",
                ],
                summarise(results),
                left=2,
            ),
            "",
            "Reproduce: `.venv/bin/python benchmarks/latency_noise.py` (resumes).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    every = list(protocols(1, lambda: None, 1.0))
    parser.add_argument("--protocols", nargs="+", choices=every, default=every)
    parser.add_argument("--report", action="store_true", help="only redraw the section")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if args.report else run(args)
    text = section(results)
    update_section(REPO / "BENCHMARKS.md", "latency-noise", "Latency noise floor", text)
    print(text)


if __name__ == "__main__":
    main()
