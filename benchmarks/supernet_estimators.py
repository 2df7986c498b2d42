"""Per-depth supernets against the reference table: inherited, and briefly fine-tuned, scores.

For each weight-sharing family of the shipped reference table (conformer, transformer), one
supernet per depth (``split_depth``: few-shot weight sharing) over the table space's layer
choices (widths, kernels, heads, FFN expansions), on that family's most common macro
architecture among the table's entries (front-end, mel bins, stem, attention, activation,
norm), is trained with the sandwich rule and the table's recipe (``--steps`` steps each, 1
thread, seed 0) on the table's train split. Every finished table architecture of the family
is then scored by its nearest subnet (:meth:`speechnas.supernet.SupernetSpace.project`: the
same layers, the supernet's macro architecture) on the table's whole dev split:

- **inherited**: dev CER on the inherited weights (greedy CTC decoding);
- **inherited, fine-tuned**: after ``--finetune-steps`` steps of the table's recipe from the
  inherited weights (its own warm-up and cosine schedule over those steps), seed 0;
- beside them, on the same architectures: the reference against itself (one seed against
  the other), params ("fewer is better") and the table's own run stopped at the fine-tune's
  step count (``EarlyScore``: the same number of steps from scratch).

Cost per architecture: the supernets' training shared over the architectures scored here
(in a search it is shared over every subnet it scores), plus the scoring or fine-tune.

Results: ``benchmarks/results/supernet_estimators.json`` (each supernet and score kept as it
finishes: a rerun goes on); supernets in ``runs/benchmarks/supernet_estimators/``;
BENCHMARKS.md "Supernets against the reference table".

    .venv/bin/python benchmarks/supernet_estimators.py [--steps 300] [--finetune-steps 75]
        [--device cuda]
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from recipe_study import machine_info, split

from speechnas.bench import ReferenceTable, kendall_tau, spearman_rho
from speechnas.data.manifest import read_manifest
from speechnas.data.paths import default_data_root
from speechnas.estimators import EarlyScore, FineTunedInherited, InheritedScore, TablePrefix
from speechnas.reports import markdown_table, update_section
from speechnas.supernet import SupernetSpace
from speechnas.supernet.scoring import ByDepth, SubnetScorer
from speechnas.supernet.train import (
    SupernetTrainConfig,
    calibration_batches,
    load_supernet,
    train_supernet,
)
from speechnas.train import TrainSettings

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "supernet_estimators.json"
OUT = REPO / "runs" / "benchmarks" / "supernet_estimators"
FAMILIES = ("conformer", "transformer")
MACRO = ("frontend", "n_mels", "subsampling", "subsampling_factor", "attention")


def family_space(table: ReferenceTable, family: str) -> SupernetSpace:
    """The table space's layer choices on the family's most common macro architecture."""
    specs = [e.spec for e in table.entries.values() if e.family == family]
    common: dict[str, Any] = {
        name: Counter(getattr(s, name) for s in specs).most_common(1)[0][0] for name in MACRO
    }
    first = [s.layers[0] for s in specs]
    activation = Counter(x.activation for x in first).most_common(1)[0][0]
    norm = Counter(x.norm for x in first).most_common(1)[0][0]
    space = table.space
    layer = dataclasses.replace(
        specs[0].layers[0],
        width=max(space["widths"]),
        kernel=max(space["kernels"]),
        heads=max(space["heads"]),
        ffn_expansion=max(space["ffn_expansions"]),
        activation=activation,
        norm=norm,
        skip=False,
        block="full",
    )
    base = dataclasses.replace(specs[0], **common, layers=(layer,), streaming=None)
    return SupernetSpace(
        base=base,
        min_layers=int(space["min_layers"]),
        max_layers=int(space["max_layers"]),
        widths=tuple(space["widths"]),
        kernels=tuple(space["kernels"]),
        heads=tuple(space["heads"]),
        ffn_expansions=tuple(float(f) for f in space["ffn_expansions"]),
    )


def settings(table: ReferenceTable, device: str = "cpu") -> TrainSettings:
    """The table's recipe, on ``device``."""
    names = {f.name for f in dataclasses.fields(TrainSettings)}
    values = {
        k: tuple(v) if isinstance(v, list) else v for k, v in table.recipe.items() if k in names
    }
    return TrainSettings(**{**values, "device": device})


def train_supernets(
    table: ReferenceTable, train: Path, steps: int, device: str, results: dict[str, Any]
) -> dict[str, dict[int, Path]]:
    """Each family's supernet per depth (trained or read back), its CPU-seconds recorded."""
    paths: dict[str, dict[int, Path]] = {}
    done = results.setdefault("supernets", {})
    for family in FAMILIES:
        space = family_space(table, family)
        paths[family] = {}
        for depth in range(space.min_layers, space.max_layers + 1):
            key = f"{family}/{depth}/{steps}"
            out = OUT / family / f"depth{depth}-steps{steps}"
            path = train_supernet(
                SupernetTrainConfig(
                    train_manifest=str(train),
                    space=space.at_depth(depth),
                    settings=settings(table, device),
                    out_dir=str(out),
                    max_steps=steps,
                    seed=0,
                    checkpoint_minutes=2.0,
                )
            )
            if key not in done:
                saved = torch.load(path, weights_only=True, map_location="cpu")
                # Its training time over every session of it (a resumed run counts the time
                # before too), at 1 thread: CPU-seconds on the CPU, GPU-seconds on a GPU.
                done[key] = {
                    "steps": int(saved["steps"]),
                    "cpu_seconds": float(saved["train_seconds"]),
                    "device": device,
                }
                print(f"supernet {key}: {done[key]}", flush=True)
                save(results)
            paths[family][depth] = path
    return paths


def save(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def score(
    table: ReferenceTable,
    paths: dict[str, dict[int, Path]],
    train: Path,
    dev: Path,
    args: argparse.Namespace,
    results: dict[str, Any],
) -> None:
    """Inherited and fine-tuned dev CER of every finished table architecture of the families."""
    scores = results.setdefault("scores", {})
    dev_utts = read_manifest(dev)
    recipe = settings(table, args.device)
    for family in FAMILIES:
        archs = [a for a in table.complete() if table.entries[a].family == family]
        todo = [a for a in archs if f"{a}/{args.steps}/{args.finetune_steps}" not in scores]
        if not todo:
            continue
        scorers = {}
        for depth, path in paths[family].items():
            net, tokenizer, _ = load_supernet(path)
            net.to(args.device)
            calibration = calibration_batches(str(train), tokenizer, 4, recipe, seed=0)
            scorers[depth] = SubnetScorer(net, tokenizer, dev_utts, calibration=calibration)
        by_depth = ByDepth(family_space(table, family), scorers)
        inherited = InheritedScore(by_depth, project=True)
        config = recipe.train_config(
            train_manifest=str(train),
            dev_manifest=str(dev),
            max_steps=args.finetune_steps,
            max_epochs=100,
            seed=0,
            threads=1,
            select_metric="cer",
        )
        tuned = FineTunedInherited(by_depth, config, OUT / "finetune" / family, project=True)
        for arch_id in todo:
            spec = table.entries[arch_id].spec
            a = inherited.estimate(spec)
            b = tuned.estimate(spec)
            scores[f"{arch_id}/{args.steps}/{args.finetune_steps}"] = {
                "family": family,
                "subnet": inherited.subnet(spec)[1].to_dict(),
                "inherited": [a.score, a.cpu_seconds],
                "finetuned": [b.score, b.cpu_seconds],
            }
            print(f"{family} {arch_id}: inherited {a.score:.3f}, fine-tuned {b.score:.3f}")
            save(results)


def _agree(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return spearman_rho(x, y), kendall_tau(x, y)


def evaluate(
    table: ReferenceTable, results: dict[str, Any], steps: int, ft: int
) -> dict[str, Any]:
    scores = results["scores"]
    archs = [a for a in table.complete() if f"{a}/{steps}/{ft}" in scores]
    seeds = table.seeds
    one = {s: table.scores("cer", seeds=[s], archs=archs) for s in seeds}
    mean = table.scores("cer", archs=archs)
    run_cost = float(np.mean([table.training_cpu_seconds(a) for a in archs]))
    supernet_cost = sum(
        v["cpu_seconds"] for k, v in results["supernets"].items() if k.endswith(f"/{steps}")
    )
    shared = supernet_cost / len(archs)
    devices = sorted(
        {
            v.get("device", "cpu")
            for k, v in results["supernets"].items()
            if k.endswith(f"/{steps}")
        }
    )
    rows: list[dict[str, Any]] = []

    def row(name: str, values: np.ndarray, cost: float, against_other: int | None = None) -> None:
        ones = [_agree(values, one[s]) for s in seeds if s != against_other]
        rho, tau = _agree(values, mean)
        rows.append(
            {
                "estimator": name,
                "rho_one": float(np.mean([o[0] for o in ones])),
                "tau_one": float(np.mean([o[1] for o in ones])),
                "rho_mean": rho,
                "tau_mean": tau,
                "cpu_seconds": cost,
                "share_of_run": cost / run_cost,
            }
        )

    pairs = [_agree(one[s], one[t]) for s in seeds for t in seeds if s < t]
    rows.append(
        {
            "estimator": "reference: one seed against the other",
            "rho_one": float(np.mean([p[0] for p in pairs])),
            "tau_one": float(np.mean([p[1] for p in pairs])),
            "rho_mean": None,
            "tau_mean": None,
            "cpu_seconds": run_cost,
            "share_of_run": 1.0,
        }
    )
    params = np.array([table.entries[a].costs["params"] for a in archs])
    row("params, fewer is better", params, 0.0)
    # From scratch: the table's own run at its first dev scoring at or past the fine-tune.
    prefix = TablePrefix(table, seeds[0])
    got = []
    for a in archs:
        at = next(c.step for c in table.run(a, seeds[0]).curve if c.step >= ft)
        got.append(EarlyScore(prefix, at).estimate(table.entries[a].spec))
    first = table.run(archs[0], seeds[0]).curve
    epoch = next(i + 1 for i, c in enumerate(first) if c.step >= ft)
    row(
        f"stand-alone from scratch, epoch {epoch} of the table's run (seed {seeds[0]})",
        np.array([g.score for g in got]),
        float(np.mean([g.cpu_seconds for g in got])),
        against_other=seeds[0],
    )
    for kind, name in (("inherited", "inherited"), ("finetuned", f"inherited + {ft} steps")):
        values = np.array([scores[f"{a}/{steps}/{ft}"][kind][0] for a in archs])
        own = float(np.mean([scores[f"{a}/{steps}/{ft}"][kind][1] for a in archs]))
        row(f"supernets by depth ({steps} steps each), {name}", values, own + shared)
    families = Counter(table.entries[a].family for a in archs)
    return {
        "architectures": len(archs),
        "families": dict(families),
        "supernet_cpu_seconds": supernet_cost,
        "supernet_devices": devices,
        "run_cpu_seconds": run_cost,
        "rows": rows,
        "steps": steps,
        "finetune_steps": ft,
    }


def section(results: dict[str, Any]) -> str:
    ev = results["evaluation"]
    info = results["info"]

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    rows = [
        [
            r["estimator"],
            f(r["rho_one"]),
            f(r["tau_one"]),
            f(r["rho_mean"]),
            f(r["tau_mean"]),
            f"{r['cpu_seconds']:.0f}",
            f"{100 * r['share_of_run']:.1f}%",
        ]
        for r in ev["rows"]
    ]
    fams = ", ".join(f"{n} {k}s" for k, n in sorted(ev["families"].items()))
    lines = [
        f"Measured on {info['cpu']}, torch {info['torch']}, commit {info['commit']}, against "
        f"the reference table `{results['table']}`: its {ev['architectures']} finished "
        f"architectures of the weight-sharing families ({fams}). One supernet per family and "
        f"depth (2-6), {ev['steps']} sandwich steps each (largest, smallest and 2 random "
        "subnets; the table's recipe, 1 thread, seed 0), over the table space's layer "
        "choices on the family's most common macro architecture; each table architecture "
        "scored as its nearest subnet (same layers, the supernet's front-end, stem, "
        "activation and norm) on the whole dev split; fine-tuned: "
        f"{ev['finetune_steps']} steps of the recipe from the inherited weights. The "
        f"supernets cost {ev['supernet_cpu_seconds'] / 60:.0f} "
        f"{'CPU' if ev['supernet_devices'] == ['cpu'] else 'GPU'}-minutes in all, counted "
        "in each estimate as its share over these architectures (in a search it is shared "
        'over every subnet scored). Columns as in "Cheap estimators"; share of a run: of '
        f"one reference run ({ev['run_cpu_seconds'] / 60:.1f} CPU-minutes on average here).",
        "",
        markdown_table(
            [
                "estimator",
                "rho, one seed",
                "tau, one seed",
                "rho, mean",
                "tau, mean",
                "CPU-s",
                "share of a run",
            ],
            rows,
            left=1,
        ),
        "",
        "Reproduce: `.venv/bin/python benchmarks/supernet_estimators.py "
        f"--steps {ev['steps']} --finetune-steps {ev['finetune_steps']}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--steps", type=int, default=300, help="sandwich steps per supernet")
    parser.add_argument("--finetune-steps", type=int, default=75)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    parser.add_argument("--report", action="store_true", help="only redraw the section")
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = ReferenceTable.load()
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.report:
        train, dev = split("speechocean762", args.data)
        paths = train_supernets(table, train, args.steps, args.device, results)
        score(table, paths, train, dev, args, results)
        results["info"] = machine_info()
    results["table"] = table.name
    results["evaluation"] = evaluate(table, results, args.steps, args.finetune_steps)
    save(results)
    text = section(results)
    update_section(
        REPO / "BENCHMARKS.md",
        "supernet-estimators",
        "Supernets against the reference table",
        text,
    )
    print(text)


if __name__ == "__main__":
    main()
