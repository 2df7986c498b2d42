"""Recipe study: which training settings learn fastest per CPU-minute.

Each variant trains one preset from scratch on a speaker-disjoint split of a real corpus for
the same wall-clock budget of training (2 torch threads; dev scoring is not counted), scoring
the whole dev split after every epoch. A variant is a set of
:class:`~speechnas.train.TrainConfig` values over a common base (the settings the preset
baselines were trained with before the study: batches of 80 s of audio, AdamW lr 2e-3, 100
warm-up steps, speed perturbation and SpecAugment from the first step).

Results are written as each run finishes to ``benchmarks/results/recipe_study.json``; an
interrupted run resumes from its last checkpoint, and a finished one is not run again. Then
BENCHMARKS.md "Recipe study" and ``benchmarks/figures/recipe_study.png``.

    .venv/bin/python benchmarks/recipe_study.py [--corpus speechocean762] \\
        [--preset conformer-ctc-xs] [--minutes 10] [--variants base ...]
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from speechnas._provenance import cpu_name, git_commit  # noqa: E402
from speechnas.arch import ArchSpec  # noqa: E402
from speechnas.data.manifest import read_manifest, write_manifest  # noqa: E402
from speechnas.data.paths import default_data_root  # noqa: E402
from speechnas.data.prepare import prepare  # noqa: E402
from speechnas.data.split import split_by_speaker  # noqa: E402
from speechnas.presets import PRESETS  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402
from speechnas.reports.curves import read_history  # noqa: E402
from speechnas.synth import synthesize_corpus  # noqa: E402
from speechnas.train import (  # noqa: E402
    TrainConfig,
    TrainResult,
    resumable_checkpoint,
    train,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "recipe_study"
RESULTS = REPO / "benchmarks" / "results" / "recipe_study.json"
FIGURE = REPO / "benchmarks" / "figures" / "recipe_study.png"
THREADS = 2

CORPORA = {
    # name: (folder under the data root, dev share)
    "speechocean762": ("speechocean762/train", 0.1),
    "fsdd": ("fsdd", 0.17),  # 6 speakers: one goes to dev
    "synthetic": ("", 0.0),  # the demo's corpus, synthesised (its own voice-disjoint split)
}
#: Hours of the synthetic corpus (the demo's default).
SYNTH_HOURS = 1.5

#: The settings before the study (those of the preset baselines).
BASE: dict[str, Any] = {
    "batch_seconds": 80.0,
    "lr": 2e-3,
    "warmup_steps": 100,
    "max_warmup_share": 1.0,
    "speed_perturb": (0.9, 1.0, 1.1),
    "specaugment": True,
    "specaugment_after_steps": 0,
    "short_first_epochs": 0,
    "inter_ctc_weight": 0.0,
    "zero_init_residuals": False,
}

#: name: (what it changes, TrainConfig values over BASE; ``arch``: ArchSpec values over the
#: preset's)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "base": ("the settings before the study", {}),
    "clean-start": (
        "no SpecAugment for the first 300 steps, short utterances first in epoch 1, "
        "no speed perturbation",
        {"specaugment_after_steps": 300, "short_first_epochs": 1, "speed_perturb": (1.0,)},
    ),
    "batch-40": ("batches of 40 s", {"batch_seconds": 40.0}),
    "batch-160": ("batches of 160 s", {"batch_seconds": 160.0}),
    "lr-4e-3": ("peak lr 4e-3", {"lr": 4e-3}),
    "lr-1e-3": ("peak lr 1e-3", {"lr": 1e-3}),
    "lr-5e-4": ("peak lr 5e-4", {"lr": 5e-4}),
    "warmup-1000": ("a warm-up of 1000 steps", {"warmup_steps": 1000, "max_warmup_share": 1.0}),
    "no-specaugment": ("no SpecAugment", {"specaugment": False}),
    "specaugment-late": ("SpecAugment from step 300", {"specaugment_after_steps": 300}),
    "sortagrad": ("short utterances first in epoch 1", {"short_first_epochs": 1}),
    "no-speed-perturb": ("no speed perturbation", {"speed_perturb": (1.0,)}),
    "bf16": ("bf16 autocast", {"precision": "bf16"}),
    "bpe-128": ("BPE units (128)", {"tokenizer": "bpe", "vocab_size": 128}),
    "dropout-0": ("no dropout (the architecture's 0.1)", {"arch": {"dropout": 0.0}}),
    "subsample-6": ("6x subsampling instead of 4x", {"arch": {"subsampling_factor": 6}}),
    "inter-ctc": (
        "intermediate CTC (weight 0.3, the middle layer)",
        {"inter_ctc_weight": 0.3},
    ),
    "zero-init": (
        "residual branches start at zero (each layer its skip path)",
        {"zero_init_residuals": True},
    ),
}


def variant_settings(variant: str) -> tuple[str, dict[str, Any]]:
    """What ``variant`` changes and its values over BASE; ``a+b`` applies ``b`` over ``a``."""
    parts = variant.split("+")
    unknown = [p for p in parts if p not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; expected {list(VARIANTS)} joined by '+'")
    settings: dict[str, Any] = {}
    for part in parts:
        values = dict(VARIANTS[part][1])
        arch = {**settings.get("arch", {}), **values.pop("arch", {})}
        settings.update(values)
        if arch:
            settings["arch"] = arch
    return " + ".join(VARIANTS[p][0] for p in parts), settings


def _order(variant: str) -> tuple[int, ...]:
    return tuple(list(VARIANTS).index(p) for p in variant.split("+"))


def split(corpus: str, data_root: Path) -> tuple[Path, Path]:
    """The speaker-disjoint train and dev manifests of ``corpus`` (written once); the
    synthetic corpus is the demo's (its dev voices unseen in training)."""
    if corpus == "synthetic":
        made = synthesize_corpus(
            OUT / "data" / corpus, hours=SYNTH_HOURS, seed=0, progress=False
        ).manifests
        return made["train"], made["dev"]
    folder, share = CORPORA[corpus]
    out = OUT / "data" / corpus
    if not (out / "dev.jsonl.gz").exists():
        utts = prepare(data_root / folder, out / "all.jsonl.gz")
        train_utts, dev_utts = split_by_speaker(utts, dev_fraction=share, seed=0)
        write_manifest(train_utts, out / "train.jsonl.gz")
        write_manifest(dev_utts, out / "dev.jsonl.gz")
    return out / "train.jsonl.gz", out / "dev.jsonl.gz"


def resumable_training(
    train_path: Path, dev_path: Path, out: Path, arch: ArchSpec, **values: Any
) -> tuple[TrainResult, list[dict[str, Any]]]:
    """Train ``arch`` (seed 0, dev scored after every epoch, ``best.pt`` by CER) with
    ``values`` (TrainConfig values: budget, threads, settings) in ``out``; an interrupted or
    finished run goes on from where it stopped. Its result and dev curve."""
    config = TrainConfig(
        train_manifest=str(train_path),
        dev_manifest=str(dev_path),
        out_dir=str(out),
        arch=arch,
        eval_every=1,
        select_metric="cer",
        seed=0,
        **values,
    )
    resume = resumable_checkpoint(config)
    result = train(config, resume=resume, overwrite=resume is None, progress=False)
    history = read_history(out / "history.jsonl")
    keys = ("epoch", "step", "train_seconds", "train_loss", "dev_cer", "dev_wer")
    curve = [{k: h[k] for k in keys} for h in history if "dev_cer" in h]
    return result, curve


def train_curve(
    train_path: Path,
    dev_path: Path,
    out: Path,
    arch: ArchSpec,
    minutes: float,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Train ``arch`` with ``settings`` (TrainConfig values) for ``minutes`` of training,
    scoring dev after every epoch; resumes an interrupted run. Its steps and dev curve."""
    result, curve = resumable_training(
        train_path,
        dev_path,
        out,
        arch,
        max_epochs=1000,
        max_minutes=minutes,
        threads=THREADS,
        **settings,
    )
    return {
        "minutes": minutes,
        "steps": result.steps,
        "epochs": result.epochs,
        "train_seconds": result.train_seconds,
        "train_utterances": len(read_manifest(train_path)),
        "dev_utterances": len(read_manifest(dev_path)),
        "checkpoint": str(result.best_checkpoint),
        "curve": curve,
        "final_cer": curve[-1]["dev_cer"],
        "final_wer": curve[-1]["dev_wer"],
        "best_cer": min(c["dev_cer"] for c in curve),
    }


def run_one(
    corpus: str, preset: str, variant: str, minutes: float, data_root: Path
) -> dict[str, Any]:
    """Train ``preset`` with ``variant``'s settings for ``minutes``; its dev curve."""
    train_path, dev_path = split(corpus, data_root)
    settings = {**BASE, **variant_settings(variant)[1]}
    arch = dataclasses.replace(PRESETS[preset], **settings.pop("arch", {}))
    out = OUT / corpus / preset / f"{variant}-{minutes:g}min"
    run = train_curve(train_path, dev_path, out, arch, minutes, settings)
    return {"corpus": corpus, "preset": preset, "variant": variant, **run}


def score_at(curve: list[dict[str, Any]], minutes: float, metric: str = "cer") -> float | None:
    """The dev ``metric`` of the last scoring within ``minutes`` of training (None: none yet)."""
    within = [c[f"dev_{metric}"] for c in curve if c["train_seconds"] <= 60.0 * minutes + 1.0]
    return within[-1] if within else None


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def machine_info() -> dict[str, str]:
    """Where the results were measured: CPU, torch, short commit."""
    return {
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "commit": (git_commit() or "unknown")[:7],
    }


def section(results: dict[str, Any]) -> str:
    info = results["info"]
    runs = sorted(
        results["runs"].values(),
        key=lambda r: (r["corpus"], r["preset"], r["minutes"], _order(r["variant"])),
    )
    base = ", ".join(f"{k} {v}" for k, v in BASE.items())
    lines = [
        f"Measured on {info['cpu']}, {THREADS} torch threads, torch {info['torch']}, commit "
        f"{info['commit']}. Each row trains one preset from scratch (seed 0, character "
        "units unless stated) on a speaker-disjoint 90% of the corpus for the stated "
        "minutes of training (dev scoring not counted), with the learning-rate schedule "
        "fitted to that budget, and scores the whole dev split after every epoch. "
        f"Base settings: {base}; each variant changes what it says. CER at t: the last "
        "dev scoring within t minutes.",
        "",
    ]
    header = ["corpus", "preset", "variant", "changes", "steps", "epochs"]
    marks = sorted({m for r in runs for m in (r["minutes"] / 4, r["minutes"] / 2)})
    header += [f"CER at {m:g} min" for m in marks] + ["final CER", "final WER", "best CER"]
    rows = []
    for r in runs:
        rows.append(
            [
                r["corpus"],
                r["preset"],
                r["variant"],
                variant_settings(r["variant"])[0],
                r["steps"],
                r["epochs"],
                *(pct(score_at(r["curve"], m)) for m in marks),
                pct(r["final_cer"]),
                pct(r["final_wer"]),
                pct(r["best_cer"]),
            ]
        )
    lines.append(markdown_table(header, rows, left=4))
    lines += [
        "",
        f"![dev CER against training minutes]({FIGURE.relative_to(REPO)})",
        "",
        "Reproduce: `.venv/bin/python benchmarks/recipe_study.py`",
    ]
    return "\n".join(lines)


def figure(results: dict[str, Any]) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results["runs"].values():
        groups.setdefault((r["corpus"], r["preset"]), []).append(r)
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, ((corpus, preset), runs) in zip(axes[0], sorted(groups.items()), strict=True):
        for r in sorted(runs, key=lambda r: _order(r["variant"])):
            xs = [c["train_seconds"] / 60 for c in r["curve"]]
            ys = [100 * c["dev_cer"] for c in r["curve"]]
            ax.plot(xs, ys, marker=".", label=r["variant"])
        ax.set_title(f"{preset} on {corpus}")
        ax.set_xlabel("training minutes (2 threads)")
        ax.set_ylabel("dev CER (%)")
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="speechocean762")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="conformer-ctc-xs")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--variants",
        nargs="*",
        default=list(VARIANTS),
        help=f"names from {list(VARIANTS)}; 'a+b' applies b's settings over a's",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"runs": {}}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    results["info"] = machine_info()
    for variant in args.variants:
        variant_settings(variant)  # an unknown name fails before any training
    for variant in args.variants:
        key = f"{args.corpus}|{args.preset}|{variant}|{args.minutes:g}"
        if key in results["runs"]:
            continue
        results["runs"][key] = run_one(args.corpus, args.preset, variant, args.minutes, args.data)
        r = results["runs"][key]
        print(f"{key}: final CER {r['final_cer']:.3f}, best {r['best_cer']:.3f}", flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
        figure(results)
        update_section(REPO / "BENCHMARKS.md", "recipe-study", "Recipe study", section(results))
    print(section(results))


if __name__ == "__main__":
    main()
