"""speechocean762 recipe: prepare, split by speaker, train, evaluate, and record the result.

Runs, from the repository root:

    .venv/bin/python recipes/speechocean762/run.py [--data ../shared/data] [--max-epochs N]

1. prepares ``<data>/speechocean762/train`` into a canonical manifest;
2. splits a speaker-disjoint dev set of 10% (seed 0);
3. trains the Conformer-CTC ``xs`` preset (``conformer_ctc_xs.yaml``) on the real train split;
4. trains the same model on the built-in synthetic corpus only (``speechnas data synth``);
5. fine-tunes the synthetic model on the real train split (``init_checkpoint``);
6. evaluates all three on the real dev split, the synthetic-only one also on synthetic test;
7. writes ``runs/speechocean762/results.json`` and the table in BENCHMARKS.md.

Every step is cached or resumable: re-running skips what is done.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from speechnas._provenance import cpu_name
from speechnas.data.manifest import Utterance, read_manifest, write_manifest
from speechnas.data.paths import default_data_root
from speechnas.data.prepare import prepare
from speechnas.data.split import split_by_speaker
from speechnas.evaluate.runner import evaluate_model
from speechnas.reports import markdown_table, update_section
from speechnas.synth import synthesize_corpus
from speechnas.train import (
    TrainConfig,
    load_model,
    load_train_config,
    resumable_checkpoint,
    train,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "runs" / "speechocean762"


def _train_and_eval(
    config: TrainConfig, label: str, tests: dict[str, list[Utterance]]
) -> dict[str, Any]:
    resume = resumable_checkpoint(config)
    start = time.perf_counter()
    result = train(config, resume=resume, overwrite=resume is None)
    wall = time.perf_counter() - start
    model, tokenizer, state = load_model(result.best_checkpoint)
    rows = {}
    for name, utts in tests.items():
        rows[name] = evaluate_model(model, tokenizer, utts, name=name).to_dict()
    return {
        "label": label,
        "arch": state["arch"],
        "params": model.num_params(),
        "steps": state["step"],
        "epochs": result.epochs,
        "train_seconds": result.train_seconds,
        "wall_seconds_this_call": wall,
        "checkpoint": str(result.best_checkpoint),
        "tests": rows,
    }


def _rtf(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _table(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        f"Measured on {info['cpu']} with {info['threads']} torch threads, "
        f"torch {info['torch']}; dev = speaker-disjoint 10% of the speechocean762 train "
        f"split ({info['dev_utts']} utterances, {info['dev_speakers']} speakers). "
        "Greedy CTC decoding; WER/CER after normalisation (NFKC, lower case, no punctuation). "
        "RTF: compute seconds per audio second, batch 1. Training time: optimiser steps and "
        "data loading, excluding dev scoring.",
    ]
    header = ["model", "trained on", "test set", "CER", "WER", "params", "epochs"]
    header += ["training time", "RTF"]
    body = [
        [
            r["arch_name"],
            r["label"],
            name,
            f"{100 * t['cer']:.1f}%",
            f"{100 * t['wer']:.1f}%",
            f"{r['params']:,}",
            r["epochs"],
            f"{r['train_seconds'] / 60:.1f} min",
            _rtf(t["rtf"]),
        ]
        for r in results
        for name, t in r["tests"].items()
    ]
    lines += ["", markdown_table(header, body, left=3)]
    lines += ["", "Reproduce: `.venv/bin/python recipes/speechocean762/run.py`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data root")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the config")
    parser.add_argument("--synth-hours", type=float, default=1.5)
    parser.add_argument("--synth-epochs", type=int, default=30)
    parser.add_argument("--skip-synth", action="store_true", help="real-data model only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    data_root = args.data or default_data_root()
    data = OUT / "data"
    utts = prepare(data_root / "speechocean762" / "train", data / "all.jsonl.gz")
    train_utts, dev_utts = split_by_speaker(utts, dev_fraction=0.1, seed=0)
    write_manifest(train_utts, data / "train.jsonl.gz")
    write_manifest(dev_utts, data / "dev.jsonl.gz")
    dev = read_manifest(data / "dev.jsonl.gz")

    config = load_train_config(HERE / "conformer_ctc_xs.yaml")
    config = replace(
        config,
        train_manifest=str(data / "train.jsonl.gz"),
        dev_manifest=str(data / "dev.jsonl.gz"),
        out_dir=str(OUT / "conformer-ctc-xs"),
        max_epochs=args.max_epochs or config.max_epochs,
    )
    results = []
    synth_result: dict[str, Any] | None = None
    if not args.skip_synth:
        synth_dir = OUT / "synth"
        synthesize_corpus(synth_dir, hours=args.synth_hours, seed=0)
        synth_config = replace(
            config,
            train_manifest=str(synth_dir / "train.jsonl"),
            dev_manifest=str(synth_dir / "dev.jsonl"),
            out_dir=str(OUT / "conformer-ctc-xs-synth"),
            max_epochs=args.synth_epochs,
        )
        synth_tests = {
            "speechocean762 dev": dev,
            "synthetic test": read_manifest(synth_dir / "test.jsonl"),
        }
        synth_result = _train_and_eval(synth_config, "synthetic only", synth_tests)

    results.append(_train_and_eval(config, "speechocean762 train", {"speechocean762 dev": dev}))
    if synth_result is not None:
        results.append(synth_result)
        tuned_config = replace(
            config,
            out_dir=str(OUT / "conformer-ctc-xs-synth-then-real"),
            init_checkpoint=synth_result["checkpoint"],
        )
        results.append(
            _train_and_eval(
                tuned_config, "synthetic, then speechocean762 train", {"speechocean762 dev": dev}
            )
        )
    for r in results:
        r["arch_name"] = "conformer-ctc-xs"

    info = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "dev_utts": len(dev),
        "dev_speakers": len({u.speaker for u in dev}),
    }
    (OUT / "results.json").write_text(json.dumps({"info": info, "results": results}, indent=2))
    update_section(
        REPO / "BENCHMARKS.md",
        "speechocean762",
        "speechocean762: Conformer-CTC baseline",
        _table(results, info),
    )
    print(_table(results, info))


if __name__ == "__main__":
    main()
