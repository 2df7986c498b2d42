"""Baseline table: every hand-designed preset trained with the same budget, then scored.

Runs, from the repository root:

    .venv/bin/python benchmarks/presets.py [--data ../shared/data] [--minutes-so762 10]
        [--minutes-fsdd 2] [--presets NAME ...] [--datasets speechocean762 fsdd]

For each dataset (speechocean762 train split, FSDD), a speaker-disjoint dev set is split off
(seed 0). Every preset is trained from scratch with the same wall-clock budget on this CPU
(2 torch threads, character tokens, the same optimiser settings), then decoded greedily on
dev. The table in BENCHMARKS.md gives WER/CER, parameters, analytic MACs per second of audio,
estimated peak activation memory, and measured CPU latency to transcribe 5 s of audio at
batch 1. Results are cached per (dataset, preset) in ``runs/benchmarks/presets``: re-running
skips rows finished with the same configuration (``--force`` redoes them; a changed default
recipe redoes them by itself). Run nothing else heavy meanwhile: the budget is
wall-clock time.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import recipe_study  # the recipe study, beside this file: its splits
import torch
from training_speed import peak_gflops  # the matrix-product peak, beside this file

from speechnas._provenance import cpu_name, run_info
from speechnas.data.manifest import Utterance, read_manifest
from speechnas.data.paths import default_data_root
from speechnas.evaluate.runner import evaluate_model
from speechnas.presets import PRESETS
from speechnas.reports import markdown_table, update_section
from speechnas.timing import compare_latency, measure_latency
from speechnas.train import TrainConfig, load_model, train

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "presets"
THREADS = 2
#: Alternating rounds of the side-by-side latency measurement (10 calls per model each).
LATENCY_ROUNDS = 5
DATASETS = ("speechocean762", "fsdd")


def _split(name: str, data_root: Path) -> tuple[Path, Path, list[Utterance]]:
    """The recipe study's speaker-disjoint split (one split for every benchmark), and its dev
    utterances."""
    train_path, dev_path = recipe_study.split(name, data_root)
    return train_path, dev_path, read_manifest(dev_path)


def _row_file(dataset: str, preset: str) -> Path:
    """Where the preset's row (its scores and measurements) is kept."""
    return OUT / f"{dataset}__{preset}.json"


def checkpoint(dataset: str, preset: str) -> Path:
    """The preset's model as trained for its row (scored and timed from it)."""
    return OUT / dataset / preset / "last.pt"


def _config(
    dataset: str, preset: str, train_path: Path, dev_path: Path, minutes: float
) -> TrainConfig:
    return TrainConfig(
        train_manifest=str(train_path),
        dev_manifest=str(dev_path),
        out_dir=str(checkpoint(dataset, preset).parent),
        arch=PRESETS[preset],
        tokenizer="char",
        max_epochs=1000,
        max_minutes=minutes,  # the rest is the default recipe (BENCHMARKS.md "Recipe study")
        eval_every=1000,  # dev is scored once, at the end
        seed=0,
        threads=THREADS,
    )


def run_one(
    dataset: str,
    preset: str,
    train_path: Path,
    dev_path: Path,
    dev: list[Utterance],
    minutes: float,
) -> dict[str, Any]:
    # A wall-clock budget buys as many steps as the machine allows at the time: the fp32
    # peak measured just before training says how fast the (shared) host was.
    peak = peak_gflops(torch.float32)
    config = _config(dataset, preset, train_path, dev_path, minutes)
    result = train(config, overwrite=True, progress=False)
    model, tokenizer, state = load_model(result.last_checkpoint)
    scores = evaluate_model(model, tokenizer, dev, name=f"{dataset} dev", rtf_utterances=0)
    return {
        "dataset": dataset,
        "preset": preset,
        "summary": PRESETS[preset].summary(),
        "arch_id": PRESETS[preset].arch_id,
        "params": model.num_params(),
        "macs_per_second": model.macs(1.0),
        "activation_mib_5s": model.activation_bytes(5.0) / 2**20,
        "latency_5s": measure_latency(model, repeats=10).median_s,
        "algorithmic_latency_ms": PRESETS[preset].algorithmic_latency_ms,
        "steps": state["step"],
        "epochs": result.epochs,
        "train_seconds": result.train_seconds,
        "budget_minutes": minutes,
        "peak_fp32_gflops": peak,
        "wer": scores.wer,
        "cer": scores.cer,
        "dev_utts": len(dev),
        "dev_speakers": len({u.speaker for u in dev}),
        "config": config.to_dict(),
    }


def cached_row(
    dataset: str, preset: str, minutes: float, data_root: Path, force: bool = False
) -> dict[str, Any]:
    """The preset's row: from ``runs/benchmarks/presets`` when it is there and was trained
    with today's configuration (budget and default recipe), else trained now and kept there."""
    cache = _row_file(dataset, preset)
    train_path, dev_path, dev = _split(dataset, data_root)
    wanted = _config(dataset, preset, train_path, dev_path, minutes).to_dict()
    if cache.exists() and not force:
        row: dict[str, Any] = json.loads(cache.read_text())
        if row.get("config") == json.loads(json.dumps(wanted)):
            return row
    row = run_one(dataset, preset, train_path, dev_path, dev, minutes)
    OUT.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(row, indent=2))
    print(json.dumps(row))
    return row


def side_by_side(rows: list[dict[str, Any]]) -> None:
    """Measure the latency of every row's model again, all side by side in alternating rounds
    (a shared host's load during one row's own measurement can put it several times off), and
    keep it in the row (the figure taken right after training stays as
    ``latency_5s_after_training``). Rows whose checkpoint is not on this machine keep theirs."""
    paths = {(r["dataset"], r["preset"]): checkpoint(r["dataset"], r["preset"]) for r in rows}
    here = {k: p for k, p in paths.items() if p.is_file()}
    models = {f"{d}/{p}": load_model(path)[0] for (d, p), path in here.items()}
    measured = compare_latency(models, rounds=LATENCY_ROUNDS, repeats=10, threads=THREADS)
    for r in rows:
        name = f"{r['dataset']}/{r['preset']}"
        if name in measured:
            r.setdefault("latency_5s_after_training", r["latency_5s"])
            r["latency_5s"] = measured[name].median_s
            _row_file(r["dataset"], r["preset"]).write_text(json.dumps(r, indent=2))


def table(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        f"Measured on {info['cpu']}, {THREADS} torch threads, torch {info['torch']}. Each "
        "preset is trained from scratch with the same wall-clock budget per dataset (column "
        "budget), character tokens, the default recipe (batches of 40 s of audio, AdamW lr "
        "2e-3, a warm-up of at most 10% of the run, SpecAugment from step 300, short "
        "utterances first in epoch 1, intermediate CTC at weight 0.3, residual branches "
        "closed at initialisation), then decoded greedily on a speaker-disjoint dev split "
        "(the recipe study's). MACs: analytic, per "
        "second of audio (encoder and head; a head that emits tokens counts 12 tokens/s). "
        "Memory: estimated peak activations for 5 s at batch 1. Latency: median time to "
        f"transcribe 5 s of audio at batch 1 on this CPU, every model measured side by side "
        f"in {LATENCY_ROUNDS} alternating rounds of 10 calls after all were trained.",
    ]
    header = ["dataset", "preset", "architecture", "WER", "CER", "params", "MMAC/s"]
    header += ["act. MiB", "latency 5 s", "budget", "steps", "fp32 peak"]
    body = [
        [
            f"{r['dataset']} ({r['dev_utts']} dev utts, {r['dev_speakers']} spk)",
            r["preset"],
            r["summary"],
            f"{100 * r['wer']:.1f}%",
            f"{100 * r['cer']:.1f}%",
            f"{r['params'] / 1e6:.2f} M",
            f"{r['macs_per_second'] / 1e6:.0f}",
            f"{r['activation_mib_5s']:.1f}",
            f"{1000 * r['latency_5s']:.0f} ms",
            f"{r['budget_minutes']:g} min",
            r["steps"],
            f"{r['peak_fp32_gflops']:.0f}" if "peak_fp32_gflops" in r else "-",
        ]
        for r in rows
    ]
    lines += [
        "",
        "fp32 peak: the matrix-product GFLOP/s of this CPU at 2 threads, measured just before "
        "the preset trained (a shared host's speed varies by about 1.6x over a day, and a "
        "wall-clock budget buys steps in proportion; '-': not measured for that row).",
        "",
        markdown_table(header, body, left=3),
    ]
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/presets.py`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data root")
    parser.add_argument("--minutes-so762", type=float, default=10.0)
    parser.add_argument("--minutes-fsdd", type=float, default=2.0)
    parser.add_argument("--presets", nargs="*", default=sorted(PRESETS))
    parser.add_argument("--datasets", nargs="*", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--force", action="store_true", help="redo cached rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(THREADS)
    data_root = args.data or default_data_root()
    minutes = {"speechocean762": args.minutes_so762, "fsdd": args.minutes_fsdd}
    OUT.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        for preset in args.presets:
            cached_row(dataset, preset, minutes[dataset], data_root, force=args.force)
    rows = [json.loads(p.read_text()) for p in sorted(OUT.glob("*__*.json"))]
    order = {name: i for i, name in enumerate(["fsdd", "speechocean762"])}
    rows.sort(key=lambda r: (order.get(r["dataset"], 9), r["preset"]))
    side_by_side(rows)
    info = {"cpu": cpu_name(), "torch": torch.__version__, "run": run_info()}
    (OUT / "results.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    text = table(rows, info)
    update_section(REPO / "BENCHMARKS.md", "presets", "Preset baselines", text)
    print(text)


if __name__ == "__main__":
    main()
