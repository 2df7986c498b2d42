"""Training speed: achieved model GFLOP/s of whole training steps, against this CPU's peak.

For every preset and precision (fp32, bf16 autocast), the real training loop
(:func:`speechnas.train.train`, 2 threads) trains on 600 utterances of the speechocean762
train split: one epoch, which decodes and caches the audio, then ``--steps`` measured
optimiser steps, as in any later epoch. Reported per run:

- model GFLOP/s: analytic MACs of each utterance (:meth:`SpeechModel.macs`, encoder and
  head, its own length, no padding) x 2 FLOPs x 3 (forward and backward), over the wall time
  of the steps (batching, features, padding, the optimiser and everything else included);
- that as a share of the matrix-product peak of the same precision, measured in the same run
  (2048 x 2048 products on 2 threads);
- the padded share of the audio the model ran on, and the share of the time spent outside the
  model's forward and backward (loading and collating batches, the optimiser step).

Results are written as each finishes to ``benchmarks/results/training_speed.json`` (a rerun
skips those there; ``--fresh`` measures all again), then BENCHMARKS.md "Training speed".

    .venv/bin/python benchmarks/training_speed.py [--steps 20] [--presets ...] [--fresh]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import speechnas  # noqa: F401  (before torch: its OpenMP settings)
from speechnas._provenance import cpu_name
from speechnas.data.batching import DurationBatchSampler
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.data.paths import default_data_root
from speechnas.data.prepare import prepare
from speechnas.data.split import split_by_speaker
from speechnas.models import SpeechModel, build_model
from speechnas.presets import PRESETS
from speechnas.reports import update_section
from speechnas.train import TrainConfig, train

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


def _sampler(config: TrainConfig, durations: list[float]) -> DurationBatchSampler:
    """The training loop's batch sampler for ``config``."""
    return DurationBatchSampler(
        durations,
        max_batch_seconds=config.batch_seconds,
        max_batch_size=config.max_batch_size,
        seed=config.seed,
    )


def _batches(
    config: TrainConfig, durations: list[float], first: int, count: int
) -> list[list[int]]:
    """The training loop's batches number ``first`` to ``first + count`` (epoch 0 on)."""
    sampler = _sampler(config, durations)
    out: list[list[int]] = []
    epoch = 0
    while len(out) < first + count:
        out += sampler.batches(epoch)
        epoch += 1
    return out[first : first + count]


def run_one(preset: str, precision: str, manifest: Path, steps: int) -> dict[str, Any]:
    import speechnas.train.loop as loop

    utts = read_manifest(manifest)
    durations = [u.duration for u in utts]
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            train_manifest=str(manifest),
            out_dir=str(Path(tmp) / "run"),
            arch=PRESETS[preset],
            max_epochs=1000,
            seed=0,
            threads=THREADS,
            precision=precision,  # type: ignore[arg-type]
            speed_perturb=(1.0,),  # the same audio every epoch: the batches below are exact
        )
        warmup = len(_sampler(config, durations).batches(0))  # the epoch that decodes audio
        config = dataclasses.replace(config, max_steps=warmup + steps)
        # Where the step time goes: the model's forward and backward; the rest (building
        # batches, the optimiser, bookkeeping) is outside the model.
        model_time, batch_time, step_time = _Timer(), _Timer(), _Timer()
        saved = (SpeechModel.forward, torch.Tensor.backward, SpeechDataset.batch)
        train_step = loop._Run.train_step
        seconds: list[tuple[float, float, float]] = []  # step, model, batch: cumulative

        def step(run: Any, indices: list[int]) -> float | None:
            out: float | None = step_time.wrap(train_step)(run, indices)
            seconds.append((step_time.seconds, model_time.seconds, batch_time.seconds))
            return out

        SpeechModel.forward = model_time.wrap(saved[0])  # type: ignore[method-assign]
        torch.Tensor.backward = model_time.wrap(saved[1])  # type: ignore[method-assign]
        SpeechDataset.batch = batch_time.wrap(saved[2])  # type: ignore[method-assign]
        loop._Run.train_step = step  # type: ignore[method-assign,assignment]
        try:
            train(config, progress=False)
        finally:
            SpeechModel.forward, torch.Tensor.backward, SpeechDataset.batch = saved  # type: ignore[method-assign]
            loop._Run.train_step = train_step  # type: ignore[method-assign]
    # The measured steps only: their time, and how much of it the model and batches took.
    (s0, m0, b0), (s1, m1, b1) = seconds[warmup - 1], seconds[-1]
    measured = s1 - s0
    batches = _batches(config, durations, warmup, steps)
    audio = sum(durations[i] for b in batches for i in b)
    padded = sum(len(b) * max(durations[i] for i in b) for b in batches)
    model = build_model(PRESETS[preset], vocab_size=32)
    flops = sum(6 * model.macs(durations[i]) for b in batches for i in b)
    return {
        "preset": preset,
        "precision": precision,
        "steps": steps,
        "seconds": measured,
        "audio_seconds": audio,
        "gflops": flops / measured / 1e9,
        "padded_share": 1 - audio / padded,
        "outside_model_share": 1 - (m1 - m0) / measured,
        "batch_share": (b1 - b0) / measured,
        "steps_per_second": steps / measured,
        "audio_per_second": audio / measured,
    }


def section(results: dict[str, Any]) -> str:
    info = results["info"]
    peaks = info["peak_gflops"]
    lines = [
        f"Measured on {info['cpu']}, {THREADS} torch threads, torch {info['torch']}; matrix-"
        f"product peak measured in the same run: {peaks['fp32']:.0f} GFLOP/s fp32, "
        f"{peaks['bf16']:.0f} GFLOP/s bf16. Each row: the training loop on {UTTERANCES} "
        "utterances of the speechocean762 train split, default batching (240 s of padded "
        f"audio, at most 64 utterances), {info['steps']} steps after the first epoch (which "
        "decodes and caches the audio). "
        "GFLOP/s: analytic MACs of each utterance x 6 (forward and backward), over the "
        "whole steps' wall time. Padded: share of the audio the model ran on that was "
        "padding. Outside the model: share of the step time not in the model's forward "
        "and backward (batching, the optimiser, ...); batches: of which building batches.",
        "",
        "| preset | precision | steps/s | audio s/s | GFLOP/s | share of peak | padded "
        "| outside the model | batches |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(results["runs"]):
        r = results["runs"][key]
        share = r["gflops"] / peaks[r["precision"]]
        lines.append(
            f"| {r['preset']} | {r['precision']} | {r['steps_per_second']:.2f} "
            f"| {r['audio_per_second']:.0f} | {r['gflops']:.1f} | {100 * share:.0f}% "
            f"| {100 * r['padded_share']:.0f}% "
            f"| {100 * r['outside_model_share']:.0f}% | {100 * r['batch_share']:.0f}% |"
        )
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/training_speed.py`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--presets", nargs="*", default=sorted(PRESETS))
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"runs": {}}
    if RESULTS.exists() and not args.fresh:
        results = json.loads(RESULTS.read_text())
    results["info"] = {
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
        for precision in PRECISIONS:
            key = f"{preset}|{precision}"
            if key in results["runs"]:
                continue
            results["runs"][key] = run_one(preset, precision, manifest, args.steps)
            print(json.dumps(results["runs"][key]), flush=True)
            RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
    body = section(results)
    update_section(REPO / "BENCHMARKS.md", "training-speed", "Training speed", body)
    print(body)


if __name__ == "__main__":
    main()
