"""Training speed: achieved model GFLOP/s of whole training steps, against this CPU's peak.

For every preset and precision (fp32, bf16 autocast), the training loop's own optimiser step
(2 threads, default settings) runs on batches of 600 utterances of the speechocean762 train
split, after their audio is decoded and cached (as in every epoch after the first) and one
step not timed; ``--steps`` steps are timed. Reported per run:

- model GFLOP/s: analytic MACs of each utterance (:meth:`SpeechModel.macs`, encoder and
  head, its own length, no padding) x 2 FLOPs x 3 (forward and backward), over the wall time
  of the steps (batching, features, padding, the optimiser and everything else included);
- that as a share of the matrix-product peak of the same precision, measured in the same run
  (2048 x 2048 products on 2 threads);
- the padded share of the audio the model ran on, and the share of the time spent outside the
  model's forward and backward (loading and collating batches, the optimiser step).

Results are written as each finishes to ``benchmarks/results/training_speed.json`` under a
``--label`` (e.g. ``before`` and ``after`` a change; a rerun skips the label's results already
there, ``--fresh`` measures them again), then BENCHMARKS.md "Training speed".

    .venv/bin/python benchmarks/training_speed.py --label after [--steps 10] [--presets ...]
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from speechnas._provenance import cpu_name, git_commit
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import write_manifest
from speechnas.data.paths import default_data_root
from speechnas.data.prepare import prepare
from speechnas.data.split import split_by_speaker
from speechnas.models import SpeechModel
from speechnas.presets import PRESETS
from speechnas.reports import update_section
from speechnas.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "training_speed"
RESULTS = REPO / "benchmarks" / "results" / "training_speed.json"
THREADS = 2
PRECISIONS = ("fp32", "bf16")


def peak_gflops(dtype: torch.dtype, n: int = 2048, seconds: float = 3.0) -> float:
    """Matrix-product GFLOP/s of ``dtype`` on this CPU at :data:`THREADS` threads."""
    torch.set_num_threads(THREADS)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


class _Timer:
    """Seconds spent inside wrapped callables (their calls must not nest)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


#: Utterances trained on: a speaker-disjoint 90% of speechocean762, then a seeded sample.
UTTERANCES = 600


def _data(data_root: Path) -> Path:
    out = OUT / "data"
    if not (out / "train.jsonl.gz").exists():
        utts = prepare(data_root / "speechocean762" / "train", out / "all.jsonl.gz")
        train_utts, _ = split_by_speaker(utts, dev_fraction=0.1, seed=0)
        keep = sorted(random.Random(0).sample(range(len(train_utts)), UTTERANCES))
        write_manifest([train_utts[i] for i in keep], out / "train.jsonl.gz")
    return out / "train.jsonl.gz"


def run_one(preset: str, precision: str, manifest: Path, steps: int) -> dict[str, Any]:
    """``steps`` optimiser steps of the training loop's own step (:meth:`_Run.train_step`)
    on ``preset``, after its audio is decoded and cached (as in every epoch after the first)
    and one step not timed."""
    from speechnas.train.loop import _Run

    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            train_manifest=str(manifest),
            out_dir=tmp,
            arch=PRESETS[preset],
            seed=0,
            threads=THREADS,
            precision=precision,  # type: ignore[arg-type]
        )
        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        run = _Run(config, Path(tmp), {})
        for i in range(len(run.dataset)):
            run.dataset.load(i)  # decode and cache
        durations = [u.duration for u in run.train_utts]
        batches: list[list[int]] = []
        epoch = 0
        while len(batches) < steps + 1:
            batches += run.sampler.batches(epoch)
            epoch += 1
        run.model.train()
        run.train_step(batches[0])
        # Where the step time goes: the model's forward and backward; the rest (building
        # batches, the optimiser, bookkeeping) is outside the model.
        model_time, batch_time = _Timer(), _Timer()
        saved = (SpeechModel.forward, torch.Tensor.backward, SpeechDataset.batch)
        SpeechModel.forward = model_time.wrap(saved[0])  # type: ignore[method-assign]
        torch.Tensor.backward = model_time.wrap(saved[1])  # type: ignore[method-assign]
        SpeechDataset.batch = batch_time.wrap(saved[2])  # type: ignore[method-assign]
        try:
            start = time.perf_counter()
            for indices in batches[1 : steps + 1]:
                run.train_step(indices)
            measured = time.perf_counter() - start
        finally:
            SpeechModel.forward, torch.Tensor.backward, SpeechDataset.batch = saved  # type: ignore[method-assign]
    timed = batches[1 : steps + 1]
    audio = sum(durations[i] for b in timed for i in b)
    padded = sum(len(b) * max(durations[i] for i in b) for b in timed)
    flops = sum(6 * run.model.macs(durations[i]) for b in timed for i in b)
    return {
        "preset": preset,
        "precision": precision,
        "steps": steps,
        "seconds": measured,
        "audio_seconds": audio,
        "gflops": flops / measured / 1e9,
        "padded_share": 1 - audio / padded,
        "outside_model_share": 1 - model_time.seconds / measured,
        "batch_share": batch_time.seconds / measured,
        "steps_per_second": steps / measured,
        "batch_seconds": config.batch_seconds,
        "max_batch_size": config.max_batch_size,
        "audio_per_second": audio / measured,
    }


def section(results: dict[str, Any]) -> str:
    labels = results["labels"]
    lines = [
        f"Each row: the training loop's optimiser step ({THREADS} torch threads, the "
        f"default settings of its time: batch seconds and size as shown) on {UTTERANCES} "
        "utterances of the speechocean762 train split, audio decoded and cached, one "
        "untimed step, then the timed ones. GFLOP/s: analytic MACs of each utterance "
        "x 6 (forward and backward) over the steps' whole wall time. Share of peak: of "
        "the matrix-product peak of the same precision, measured in the same run "
        "(2048 x 2048, 2 threads). Padded: share of the audio the model ran on that was "
        "padding. Outside the model: share of the step time not in the model's forward "
        "and backward (batching, features cache, the optimiser, ...); batches: of which "
        "building batches.",
        "",
    ]
    for label, info in labels.items():
        peaks = info["peak_gflops"]
        lines.append(
            f"- `{label}`: commit {info['commit']}, {info['cpu']}, torch {info['torch']}, "
            f"{info['steps']} timed steps; peak {peaks['fp32']:.0f} GFLOP/s fp32, "
            f"{peaks['bf16']:.0f} GFLOP/s bf16."
        )
    lines += [
        "",
        "| preset | precision | run | batch | steps/s | audio s/s | GFLOP/s | share of peak "
        "| padded | outside the model | batches |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = list(labels)
    runs = sorted(
        results["runs"].values(),
        key=lambda r: (r["preset"], r["precision"], order.index(r["label"])),
    )
    for r in runs:
        share = r["gflops"] / labels[r["label"]]["peak_gflops"][r["precision"]]
        lines.append(
            f"| {r['preset']} | {r['precision']} | {r['label']} "
            f"| {r['batch_seconds']:g} s / {r['max_batch_size']} "
            f"| {r['steps_per_second']:.2f} "
            f"| {r['audio_per_second']:.0f} | {r['gflops']:.1f} | {100 * share:.0f}% "
            f"| {100 * r['padded_share']:.0f}% "
            f"| {100 * r['outside_model_share']:.0f}% | {100 * r['batch_share']:.0f}% |"
        )
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/training_speed.py --label NAME`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--label", default="current")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--presets", nargs="*", default=sorted(PRESETS))
    parser.add_argument("--precisions", nargs="*", default=list(PRECISIONS))
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"labels": {}, "runs": {}}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    if args.fresh:
        results["runs"] = {k: r for k, r in results["runs"].items() if r["label"] != args.label}
    results["labels"][args.label] = {
        "commit": (git_commit() or "unknown")[:7],
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "steps": args.steps,
        "peak_gflops": {
            "fp32": peak_gflops(torch.float32),
            "bf16": peak_gflops(torch.bfloat16),
        },
    }
    manifest = _data(args.data)
    for preset in args.presets:
        for precision in args.precisions:
            key = f"{args.label}|{preset}|{precision}"
            if key in results["runs"]:
                continue
            run = run_one(preset, precision, manifest, args.steps)
            results["runs"][key] = {"label": args.label, **run}
            print(json.dumps(results["runs"][key]), flush=True)
            RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
    body = section(results)
    update_section(REPO / "BENCHMARKS.md", "training-speed", "Training speed", body)
    print(body)


if __name__ == "__main__":
    main()
