"""Plateau probe: which change takes a model off the CTC blank plateau in the fewest steps.

Each run trains one preset from scratch with the recipe study's defaults (:data:`STUDY`:
speechnas's defaults without intermediate CTC and with random residual branches) plus a
variant (the recipe study's variants, and changes of the architecture's shape; ``study``
alone: none, ``inter-ctc+zero-init``: speechnas's defaults) for a fixed number of
epochs, on one torch thread, scoring the whole dev split after every epoch. A budget in
epochs, not minutes, makes a run's result independent of the machine's speed and load, so
several run side by side (``--jobs``); the schedule decays over those epochs.

Results are written as each run finishes to ``benchmarks/results/plateau_probe.json``, a
finished run is not run again; then BENCHMARKS.md "Leaving the plateau".

    .venv/bin/python benchmarks/plateau_probe.py [--preset conformer-ctc-s] \\
        [--epochs 3] [--jobs 2] [--variants study inter-ctc inter-ctc+zero-init ...]
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import dataclasses
import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from recipe_study import (
    VARIANTS,
    machine_info,
    pct,
    resumable_training,
    split,
    variant_settings,
)

from speechnas.arch import ArchSpec
from speechnas.data.paths import default_data_root
from speechnas.presets import PRESETS
from speechnas.reports import markdown_table, update_section

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "plateau_probe"
RESULTS = REPO / "benchmarks" / "results" / "plateau_probe.json"


def _first_layers(count: int) -> Callable[[ArchSpec], ArchSpec]:
    return lambda arch: dataclasses.replace(arch, layers=arch.layers[:count])


def _narrow(width: int, ffn_expansion: float) -> Callable[[ArchSpec], ArchSpec]:
    def change(arch: ArchSpec) -> ArchSpec:
        layer = dataclasses.replace(arch.layers[0], width=width, ffn_expansion=ffn_expansion)
        return dataclasses.replace(arch, layers=(layer,) * len(arch.layers))

    return change


#: The recipe the variants change: the defaults the recipe study chose.
STUDY: dict[str, Any] = {"inter_ctc_weight": 0.0, "zero_init_residuals": False}

#: name: (what it changes, the change of the preset's architecture)
#: (``depth-N`` for any N keeps the first N layers: :func:`_shape`)
SHAPES: dict[str, tuple[str, Callable[[ArchSpec], ArchSpec]]] = {
    "width-96": ("width 96, feed-forward x3 (conformer-ctc-xs's)", _narrow(96, 3.0)),
    "abs-attention": (
        "absolute positions instead of relative attention",
        lambda arch: dataclasses.replace(arch, attention="abs"),
    ),
}


def _shape(part: str) -> tuple[str, Callable[[ArchSpec], ArchSpec]] | None:
    """The shape change named ``part`` (of :data:`SHAPES`, or ``depth-N``), or None."""
    if part in SHAPES:
        return SHAPES[part]
    count = part.removeprefix("depth-")
    if count != part and count.isdigit() and int(count) > 0:
        return (f"its first {count} layers only", _first_layers(int(count)))
    return None


def describe(variant: str) -> str:
    """What ``variant`` (``study``, or names of :data:`SHAPES` and the recipe study's
    variants joined by ``+``) changes."""
    if variant == "study":
        return "the recipe study's defaults"
    parts = variant.split("+")
    said = [shape[0] if (shape := _shape(p)) else variant_settings(p)[0] for p in parts]
    return " + ".join(said)


def settings_of(variant: str, arch: ArchSpec) -> tuple[ArchSpec, dict[str, Any]]:
    """The architecture and TrainConfig values (over the defaults) of ``variant``."""
    settings = dict(STUDY)
    if variant == "study":
        return arch, settings
    for part in variant.split("+"):
        shape = _shape(part)
        if shape is not None:
            arch = shape[1](arch)
            continue
        values = variant_settings(part)[1]
        arch = dataclasses.replace(arch, **values.pop("arch", {}))
        settings.update(values)
    return arch, settings


def run_one(corpus: str, preset: str, variant: str, epochs: int, data: Path) -> dict[str, Any]:
    """Train ``preset`` with ``variant`` for ``epochs`` on one thread; its dev curve."""
    train_path, dev_path = split(corpus, data)
    arch, settings = settings_of(variant, PRESETS[preset])
    out = OUT / corpus / preset / f"{variant}-{epochs}ep"
    result, curve = resumable_training(
        train_path, dev_path, out, arch, max_epochs=epochs, threads=1, **settings
    )
    return {
        "corpus": corpus,
        "preset": preset,
        "variant": variant,
        "epochs": epochs,
        "steps": result.steps,
        "curve": curve,
    }


def section(results: dict[str, Any]) -> str:
    info = results["info"]
    runs = sorted(
        results["runs"].values(),
        key=lambda r: (r["corpus"], r["preset"], r["curve"][-1]["dev_cer"]),
    )
    lines = [
        f"Measured on {info['cpu']}, 1 torch thread per run, torch {info['torch']}, commit "
        f"{info['commit']}. Each row trains a preset from scratch (seed 0) with the recipe "
        "study's defaults (batches of 40 s, clean start; no intermediate CTC, random "
        "residual branches) plus the changes named for the stated epochs of the "
        "speaker-disjoint split (the learning-rate schedule decays over them), scoring the "
        "whole dev split after every epoch. Budgets in steps make rows comparable on any "
        "machine and load. Train loss: mean CTC loss per utterance over the epoch (with "
        "intermediate CTC, the mixed loss).",
        "",
    ]
    marks = sorted({c["epoch"] for r in runs for c in r["curve"]})
    header = ["corpus", "preset", "variant", "changes", "steps"]
    header += [f"CER after epoch {m:g}" for m in marks] + ["train loss, last epoch"]
    rows = []
    for r in runs:
        by_epoch = {c["epoch"]: c for c in r["curve"]}
        rows.append(
            [
                r["corpus"],
                r["preset"],
                r["variant"],
                describe(r["variant"]),
                r["steps"],
                *(pct(by_epoch[m]["dev_cer"]) if m in by_epoch else "-" for m in marks),
                f"{r['curve'][-1]['train_loss']:.1f}",
            ]
        )
    lines.append(markdown_table(header, rows, left=4))
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/plateau_probe.py`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--corpus", default="speechocean762")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="conformer-ctc-s")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side")
    parser.add_argument(
        "--variants",
        nargs="*",
        default=["study", "inter-ctc", "zero-init", "inter-ctc+zero-init"],
        help=f"study, or names from {[*SHAPES, 'depth-N', *VARIANTS]} joined by '+'",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"runs": {}}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    results["info"] = machine_info()
    for variant in args.variants:
        settings_of(variant, PRESETS[args.preset])  # an unknown name fails before training
    keys = {f"{args.corpus}|{args.preset}|{v}|{args.epochs}": v for v in args.variants}
    todo = {k: v for k, v in keys.items() if k not in results["runs"]}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = {
            pool.submit(run_one, args.corpus, args.preset, v, args.epochs, args.data): k
            for k, v in todo.items()
        }
        for future in as_completed(futures):
            key = futures[future]
            results["runs"][key] = run = future.result()
            print(f"{key}: dev CER {run['curve'][-1]['dev_cer']:.3f}", flush=True)
            _write(results)
    _write(results)  # also when every run was there: the section follows the script
    print(section(results))


def _write(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
    text = section(results)
    update_section(REPO / "BENCHMARKS.md", "plateau-probe", "Leaving the plateau", text)


if __name__ == "__main__":
    main()
