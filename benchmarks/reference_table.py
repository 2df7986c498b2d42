"""Reference table: architectures of the speechocean762 search space, each trained with 2 seeds.

Draws ``--count`` architectures of the space of ``recipes/speechocean762/search.yaml``
(CTC; at most 5 M parameters, the recipe's constraint), stratified by encoder family and
depth (:func:`speechnas.bench.build.stratified_specs`), and trains each from scratch with
every seed for ``--epochs`` epochs of speechnas's default recipe on the speaker-disjoint
train split of speechocean762 (dev: 10% of the speakers), one torch thread per run, scoring
the whole dev split after every epoch. A budget in epochs makes a run's result independent
of the machine's speed and load, so ``--jobs`` runs go side by side.

Each run is written to the table file as it finishes (``src/speechnas/bench/tables/``); a
finished run is not run again, a killed one starts over. ``--measure`` then measures every
architecture's costs (params, MACs, memory, latency at 1 thread); run it alone on the
machine, as latency is timed. Every call rewrites BENCHMARKS.md "Reference table".

    .venv/bin/python benchmarks/reference_table.py [--count 42] [--epochs 3] [--jobs 2]
    .venv/bin/python benchmarks/reference_table.py --measure
    .venv/bin/python benchmarks/reference_table.py --report
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import dataclasses
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from recipe_study import machine_info, split

from speechnas.arch import ArchSpec
from speechnas.bench import ReferenceTable, kendall_tau
from speechnas.bench.build import char_vocab_size, measure_costs, stratified_specs, train_run
from speechnas.bench.table import FORMAT, TABLES, run_key
from speechnas.data.manifest import read_manifest, total_hours
from speechnas.data.paths import default_data_root
from speechnas.reports import markdown_table, update_section
from speechnas.space import SpeechSpace
from speechnas.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "reference_table"
TABLE = TABLES / "so762-ctc-v1.json"
SPACE_FILE = REPO / "recipes" / "speechocean762" / "search.yaml"
MAX_PARAMS = 5e6
DRAW_SEED = 0


def recipe_values(epochs: int, threads: int) -> dict[str, Any]:
    """Every TrainConfig value of a run but its paths, architecture and seed."""
    config = TrainConfig(train_manifest="-", max_epochs=epochs, threads=threads)
    skip = {"train_manifest", "dev_manifest", "out_dir", "arch", "seed", "eval_every"}
    values = {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}
    return json.loads(json.dumps(values))  # tuples as lists, as the file holds them


def new_table(args: argparse.Namespace, train: Path, dev: Path) -> dict[str, Any]:
    space_values = yaml.safe_load(SPACE_FILE.read_text())["space"]
    space = SpeechSpace(**space_values)
    vocab = char_vocab_size(train)
    drawn = stratified_specs(
        space, args.count, seed=DRAW_SEED, max_params=MAX_PARAMS, vocab_size=vocab
    )
    train_utts, dev_utts = read_manifest(train), read_manifest(dev)
    return {
        "format": FORMAT,
        "name": TABLE.stem,
        "seeds": list(args.seeds),
        "recipe": {
            **recipe_values(args.epochs, args.threads),
            "select_metric": "cer",
            "step_loss_epochs": 1,
        },
        "corpus": {
            "name": "speechocean762 train split",
            "split": "by speaker, 10% of the speakers to dev, seed 0",
            "train_utterances": len(train_utts),
            "train_hours": round(total_hours(train_utts), 3),
            "train_speakers": len({u.speaker for u in train_utts}),
            "dev_utterances": len(dev_utts),
            "dev_hours": round(total_hours(dev_utts), 3),
            "dev_speakers": len({u.speaker for u in dev_utts}),
            "vocab_size": vocab,
            "tokenizer": "char",
        },
        "space": {
            **space_values,
            "max_params": MAX_PARAMS,
            "draw": "stratified by encoder family and depth (speechnas.bench.build)",
            "draw_seed": DRAW_SEED,
        },
        "machine": machine_info(),
        "archs": {
            spec.arch_id: {
                "spec": spec.to_dict(),
                "family": family,
                "depth": depth,
                "costs": {},
            }
            for family, depth, spec in drawn
        },
        "runs": {},
    }


def write(table: dict[str, Any]) -> None:
    """Write ``table``, keeping what another call wrote meanwhile (a ``--measure`` beside a
    build): the runs and measured costs of the file on disk are merged in."""
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    if TABLE.exists():
        on_disk = json.loads(TABLE.read_text())
        for key, run in on_disk.get("runs", {}).items():
            table["runs"].setdefault(key, run)
        for arch_id, entry in on_disk.get("archs", {}).items():
            mine = table["archs"].setdefault(arch_id, entry)
            if entry.get("costs") and not mine.get("costs"):
                mine["costs"] = entry["costs"]
    tmp = TABLE.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, TABLE)
    update_section(REPO / "BENCHMARKS.md", "reference-table", "Reference table", section(table))


def one_run(
    spec_data: dict[str, Any], seed: int, train: Path, dev: Path, recipe: dict[str, Any]
) -> dict[str, Any]:
    spec = ArchSpec.from_dict(spec_data)
    values = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in recipe.items()
        if k not in ("step_loss_epochs", "select_metric")
    }
    return train_run(
        spec,
        seed,
        train_manifest=train,
        dev_manifest=dev,
        out_dir=OUT / "runs" / f"{spec.arch_id}-s{seed}",
        recipe=values,
        step_loss_epochs=recipe["step_loss_epochs"],
    )


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def section(data: dict[str, Any]) -> str:
    table = ReferenceTable(data, source=str(TABLE))
    archs = table.complete()
    recipe, corpus = table.recipe, table.corpus
    runs = list(table.runs.values())
    lines = [
        f"`{table.name}` (format {FORMAT}, `src/speechnas/bench/tables/{TABLE.name}`, read "
        "with `speechnas.bench.ReferenceTable.load()`). Built on "
        f"{table.machine.get('cpu', '?')}, torch {table.machine.get('torch', '?')}, commit "
        f"{table.machine.get('commit', '?')}.",
        "",
        f"- **Architectures**: {len(table.entries)} drawn from the space of "
        "`recipes/speechocean762/search.yaml` (CTC; encoders "
        f"{', '.join(table.space['encoders'])}; {table.space['min_layers']}-"
        f"{table.space['max_layers']} layers; widths {table.space['widths']}; at most "
        f"{table.space['max_params'] / 1e6:g} M parameters), stratified by encoder family and "
        f"depth; {len(archs)} trained with every seed so far, {len(runs)} runs in all.",
        f"- **Seeds**: {', '.join(map(str, table.seeds))}.",
        f"- **Data**: {corpus['name']}, split {corpus['split']}: train "
        f"{corpus['train_utterances']} utterances ({corpus['train_hours']:.2f} h, "
        f"{corpus['train_speakers']} speakers), dev {corpus['dev_utterances']} "
        f"({corpus['dev_hours']:.2f} h, {corpus['dev_speakers']} speakers); characters "
        f"({corpus['vocab_size']} tokens).",
        f"- **Budget**: {recipe['max_epochs']} epochs of speechnas's default recipe (batches "
        f"of {recipe['batch_seconds']:g} s, peak lr {recipe['lr']:g}, warm-up and cosine "
        f"decay over the run, intermediate CTC {recipe['inter_ctc_weight']:g}, residual "
        f"branches from zero), {recipe['threads']} torch thread per run, dev scored after "
        "every epoch.",
    ]
    if runs:
        steps = sorted({r.curve[-1].step for r in runs})
        cpu = [r.cpu_seconds for r in runs]
        lines.append(
            f"- **Cost**: {steps[0]}-{steps[-1]} optimiser steps per run; "
            f"{np.mean(cpu) / 60:.1f} CPU-minutes per run on average "
            f"({min(cpu) / 60:.1f}-{max(cpu) / 60:.1f}), {sum(cpu) / 3600:.1f} CPU-hours "
            "in all so far."
        )
    if len(archs) >= 3:
        rows = []
        for epoch in table.epochs():
            cer = table.seed_agreement("cer", epoch=epoch)
            wer = table.seed_agreement("wer", epoch=epoch)
            mean_cer = table.scores("cer", epoch=epoch)
            by_seed = [
                np.array([table.run(a, s).at(epoch).train_loss for a in archs])
                for s in table.seeds
            ]
            spread = np.abs(
                table.scores("cer", epoch=epoch, seeds=[table.seeds[0]], archs=archs)
                - table.scores("cer", epoch=epoch, seeds=[table.seeds[1]], archs=archs)
            )
            rows.append(
                [
                    f"{epoch:g}",
                    f"{cer['pair_tau']:.2f}",
                    f"{cer['pair_rho']:.2f}",
                    f"{wer['pair_tau']:.2f}",
                    f"{wer['pair_rho']:.2f}",
                    f"{kendall_tau(by_seed[0], by_seed[1]):.2f}",
                    f"{100 * np.median(spread):.1f}",
                    f"{int((spread > 0.10).sum())}",
                    f"{pct(mean_cer.min())}-{pct(mean_cer.max())}",
                ]
            )
        lines += [
            "",
            f"**Seed-to-seed agreement** ({len(archs)} architectures; Kendall tau and Spearman "
            "rho between the seeds' orders after each epoch of the budget's schedule; goal "
            "tau >= 0.8 on dev CER at the budget; the epoch's mean training loss, tau between "
            "the seeds; the gap between the seeds' dev CER of one architecture, median in "
            "points and how many architectures differ by more than 10 points):",
            "",
            markdown_table(
                [
                    "epoch",
                    "CER tau",
                    "CER rho",
                    "WER tau",
                    "WER rho",
                    "train loss tau",
                    "CER gap (points)",
                    "gap > 10",
                    "dev CER, mean of seeds",
                ],
                rows,
            ),
            "",
            "**By family** (mean over the seeds at the budget's end):",
            "",
            markdown_table(
                [
                    "family",
                    "architectures",
                    "depths",
                    "params",
                    "dev CER",
                    "dev WER",
                    "CPU-min/run",
                ],
                _family_rows(table, archs),
                left=1,
            ),
        ]
    lines += [
        "",
        "Reproduce: `.venv/bin/python benchmarks/reference_table.py` (resumes), then "
        "`--measure` alone on the machine.",
    ]
    return "\n".join(lines)


def _family_rows(table: ReferenceTable, archs: list[str]) -> list[list[Any]]:
    rows = []
    for family in table.space["encoders"]:
        mine = [a for a in archs if table.entries[a].family == family]
        if not mine:
            continue
        depths = sorted({table.entries[a].depth for a in mine})
        params = [table.entries[a].costs.get("params") for a in mine]
        known = [p for p in params if p is not None]
        rows.append(
            [
                family,
                len(mine),
                ", ".join(map(str, depths)),
                f"{min(known) / 1e6:.2f}-{max(known) / 1e6:.2f} M" if known else "-",
                pct(float(np.mean([table.score(a, "cer") for a in mine]))),
                pct(float(np.mean([table.score(a, "wer") for a in mine]))),
                f"{np.mean([table.training_cpu_seconds(a) for a in mine]) / 60:.1f}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--count", type=int, default=42)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side")
    parser.add_argument("--measure", action="store_true", help="measure the costs, alone")
    parser.add_argument("--report", action="store_true", help="only rewrite the section")
    args = parser.parse_args()
    train_path, dev_path = split("speechocean762", args.data)
    if TABLE.exists():
        table = json.loads(TABLE.read_text())
        if len(table["archs"]) < args.count:
            grown = new_table(args, train_path, dev_path)
            for arch_id, entry in grown["archs"].items():  # the first ones are the same draws
                table["archs"].setdefault(arch_id, entry)
    else:
        table = new_table(args, train_path, dev_path)
    write(table)  # the file exists (and the section says so) from the start
    if args.report:
        return
    if args.measure:
        vocab = table["corpus"]["vocab_size"]
        for arch_id, entry in table["archs"].items():
            if not entry["costs"]:
                spec = ArchSpec.from_dict(entry["spec"])
                entry["costs"] = measure_costs(spec, vocab_size=vocab, threads=1)
                print(f"{arch_id}: {entry['costs']}", flush=True)
                write(table)
        write(table)
        return
    todo = [
        (arch_id, seed)
        for arch_id in table["archs"]
        for seed in table["seeds"]
        if run_key(arch_id, seed) not in table["runs"]
    ]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = {
            pool.submit(
                one_run, table["archs"][a]["spec"], s, train_path, dev_path, table["recipe"]
            ): (a, s)
            for a, s in todo
        }
        for future in as_completed(futures):
            arch_id, seed = futures[future]
            run = future.result()
            table["runs"][run_key(arch_id, seed)] = run
            last = run["curve"][-1]
            print(
                f"{arch_id} seed {seed}: dev CER {last['dev_cer']:.3f} WER "
                f"{last['dev_wer']:.3f}, {run['cpu_seconds'] / 60:.1f} CPU-min",
                flush=True,
            )
            write(table)
    write(table)


if __name__ == "__main__":
    main()
