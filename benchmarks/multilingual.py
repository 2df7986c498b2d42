"""Multilingual search on Common Voice, and low-resource languages, against the presets.

Runs, from the repository root (budgets in optimiser steps, 1 torch thread per run, so the
results do not depend on the machine's load):

    .venv/bin/python benchmarks/multilingual.py [--data ../shared/data] [--steps 3000]
        [--trials 20] [--low-resource mt lv ro] [--low-steps 600] [--workers 1]
    .venv/bin/python benchmarks/multilingual.py --retime   # on a quiet machine, at the end

1. **Data**: the Common Voice sample's languages ``--languages`` (12 by default) read as one
   corpus, split speaker-disjointly within each language (20% of each to dev, seed 0).
2. **Presets**: every CTC preset trained from scratch on all the languages at once (one
   shared character inventory) for ``--steps`` steps of the default recipe; dev CER per
   language (each by its own rules), mean and worst; CPU latency (5 s of audio, 1 thread).
3. **Search**: TPE over the CTC space of ``recipes/commonvoice/search.yaml`` minimising
   (mean CER over the languages, CPU latency), with a ladder of ``--steps / 6`` and
   ``--steps / 2`` steps; then the front models with a mean CER below the best preset's
   (at most ``--top-k``) are retrained from scratch with the presets' budget, so searched
   models and presets are compared on equal terms.
4. **Low resource**: for each language of ``--low-resource`` (languages the multilingual
   models never heard; its own speaker-disjoint split, 20% to dev), the best searched model
   and the best preset each fine-tuned on that language alone for ``--low-steps`` steps from
   their own multilingual weights (the same start for both: their multilingual training
   above), with the language's own vocabulary (``init_vocabulary: data``); dev CER of that
   language.
5. **Latency side by side** (``--retime``): every row's model timed again in one process, in
   alternating rounds (:func:`speechnas.timing.compare_latency`), so rows trained while
   other work ran are compared on equal terms; the figure taken after training is kept as
   ``latency_ms_after_training``.

Every trained model is kept in ``runs/benchmarks/multilingual/`` and every row in
``benchmarks/results/multilingual.json`` as it finishes, so a rerun goes on where it stopped;
``--report`` redraws BENCHMARKS.md "Multilingual search" from the results alone.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from budget_results import BudgetResults  # noqa: E402  (beside this file)

from speechnas._provenance import cpu_name
from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.data.paths import default_data_root
from speechnas.data.prepare import prepare
from speechnas.data.split import split_by_speaker
from speechnas.evaluate.runner import evaluate_model
from speechnas.hardware.cheap import cheap_metrics
from speechnas.presets import PRESETS, preset
from speechnas.reports import markdown_table, update_section
from speechnas.search.config import (
    Constraints,
    DataConfig,
    FidelityConfig,
    ParallelConfig,
    Rung,
    SearchConfig,
    load_search_config,
)
from speechnas.search.runner import open_store, run_search
from speechnas.search.summary import summarise
from speechnas.timing import compare_latency
from speechnas.train import TrainConfig, TrainSettings, load_model, resumable_checkpoint, train

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "multilingual"
RESULTS = REPO / "benchmarks" / "results" / "multilingual.json"
STORE = BudgetResults(RESULTS)
RECIPE = REPO / "recipes" / "commonvoice" / "search.yaml"
FIGURE = REPO / "benchmarks" / "figures" / "multilingual.png"
LANGUAGES = ("ca", "cy", "de", "es", "et", "eu", "fr", "it", "nl", "pl", "pt", "ru")

log = logging.getLogger("multilingual")


def data(args: argparse.Namespace) -> tuple[Path, Path]:
    """The speaker-disjoint train and dev manifests of the chosen languages (written once)."""
    folder = OUT / "data" / "-".join(args.languages)
    train_path, dev_path = folder / "train.jsonl.gz", folder / "dev.jsonl.gz"
    if not dev_path.exists():
        utts = prepare(
            args.data / "commonvoice", folder / "all.jsonl.gz", languages=args.languages
        )
        train_utts, dev_utts = split_by_speaker(utts, dev_fraction=0.2, seed=0)
        write_manifest(train_utts, train_path)
        write_manifest(dev_utts, dev_path)
    return train_path, dev_path


def _budget(args: argparse.Namespace) -> str:
    """The results of one budget and set of languages are kept apart from another's."""
    return f"{args.steps}-steps/{args.low_steps}-low/{'-'.join(args.languages)}"


def load(args: argparse.Namespace) -> dict[str, Any]:
    """This budget's results (a view into the file: :func:`save` writes it back)."""
    return STORE.load(_budget(args))


def save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    STORE.save(_budget(args), results)


def train_and_score(
    arch: ArchSpec,
    out: Path,
    train_path: Path,
    dev_path: Path,
    steps: int,
    **changes: Any,
) -> dict[str, Any]:
    """Train ``arch`` for ``steps`` steps (resuming), score dev per language, time it."""
    config = TrainConfig(
        train_manifest=str(train_path),
        out_dir=str(out),  # dev is scored here, once, at the end
        arch=arch,
        max_steps=steps,
        max_epochs=10_000,
        threads=1,
        seed=0,
        **changes,
    )
    resume = resumable_checkpoint(config)
    result = train(config, resume=resume, overwrite=resume is None, progress=False)
    model, tokenizer, _ = load_model(result.last_checkpoint)
    dev = evaluate_model(model, tokenizer, read_manifest(dev_path), name="dev", rtf_utterances=0)
    costs = cheap_metrics(arch, vocab_size=tokenizer.vocab_size, threads=1, repeats=10)
    cers = [x["cer"] for x in dev.languages.values()]
    return {
        "arch": arch.to_dict(),
        "summary": arch.summary(),
        "checkpoint": str(result.last_checkpoint),
        "steps": result.steps,
        "train_seconds": result.train_seconds,
        "cer": dev.cer,
        "wer": dev.wer,
        "languages": dev.languages,
        "mean_cer": sum(cers) / len(cers),
        "worst_cer": max(cers),
        "params": costs["params"],
        "latency_ms": costs["latency_ms"],
    }


def presets_stage(args: argparse.Namespace, train_path: Path, dev_path: Path) -> None:
    results = load(args)
    rows = results.setdefault("presets", {})
    for name in PRESETS:
        spec = preset(name)
        if spec.decoder.kind != "ctc" or name in rows:
            continue
        log.info("preset %s: %d steps", name, args.steps)
        out = OUT / "presets" / f"{name}-{args.steps}"
        rows[name] = train_and_score(spec, out, train_path, dev_path, args.steps)
        save(args, results)


def search_config(args: argparse.Namespace, train_path: Path, dev_path: Path) -> SearchConfig:
    recipe = load_search_config(RECIPE)
    rungs = (Rung(1.0, steps=args.steps // 6), Rung(1.0, steps=args.steps // 2))
    return SearchConfig(
        name=f"cv{len(args.languages)}_tpe_{args.trials}_{args.steps}",
        out_root=str(OUT / "search"),
        data=DataConfig(train_manifest=str(train_path), dev_manifest=str(dev_path)),
        space=recipe.space,
        strategy="tpe",
        n_trials=args.trials,
        seed=0,
        objectives=("mean_cer", "latency_ms"),
        # The recipe's size limit; its limit on the worst language would stop every trial
        # of a short budget, where some languages are still near 100% CER.
        constraints=Constraints(max_params=recipe.constraints.max_params),
        fidelity=FidelityConfig(rungs=rungs, reduction_factor=3, min_trials=3, metric="cer"),
        train=TrainSettings(threads=1),
        latency_repeats=10,
        latency_blocks=1,  # the study began timing one median per trial: it goes on so
        # Several trials at once change the order TPE sees results in, and each trial's
        # latency objective is timed while the others train: --retime times the picks
        # again side by side.
        parallel=ParallelConfig(
            executor="processes" if args.workers > 1 else "local", workers=args.workers
        ),
    )


def search_stage(args: argparse.Namespace, train_path: Path, dev_path: Path) -> None:
    config = search_config(args, train_path, dev_path)
    run_search(config, progress=False)
    records = open_store(config, for_search=False).records()
    front = summarise(records, config.objectives).front
    results = load(args)
    best_preset = min(results["presets"].values(), key=lambda r: r["mean_cer"])
    picks = (
        sorted(
            (r for r in front if r.metrics["mean_cer"] < best_preset["mean_cer"]),
            key=lambda r: r.metrics["mean_cer"],
        )[: args.top_k]
        or sorted(front, key=lambda r: r.metrics["mean_cer"])[:1]
    )
    searched = results.setdefault("searched", {})
    results["search"] = {
        "name": config.name,
        "trials": len(records),
        "front": [r.number for r in front],
        "cpu_seconds": sum(r.train_seconds for r in records),
    }
    save(args, results)
    for r in picks:
        key = f"trial-{r.number}"
        if key in searched or r.spec is None:
            continue
        log.info("searched %s: %s", key, r.spec.summary())
        out = OUT / "searched" / f"{config.name}-{key}"
        searched[key] = train_and_score(r.spec, out, train_path, dev_path, args.steps)
        searched[key]["search_mean_cer"] = r.metrics["mean_cer"]
        save(args, results)


def low_resource_stage(args: argparse.Namespace) -> None:
    results = load(args)
    rows = results.setdefault("low_resource", {})
    best = {
        kind: min(results[key].values(), key=lambda r: r["mean_cer"])
        for kind, key in (("searched", "searched"), ("preset", "presets"))
        if results.get(key)
    }
    for language in args.low_resource:
        folder = OUT / "low" / language
        one_train, one_dev = folder / "train.jsonl.gz", folder / "dev.jsonl.gz"
        if not one_dev.exists():
            utts = prepare(
                args.data / "commonvoice", folder / "all.jsonl.gz", languages=[language]
            )
            train_utts, dev_utts = split_by_speaker(utts, dev_fraction=0.2, seed=0)
            write_manifest(train_utts, one_train)
            write_manifest(dev_utts, one_dev)
        for kind, start in best.items():
            key = f"{language}/{kind}"
            if key in rows:
                continue
            log.info("low resource %s: %s from its multilingual weights", language, kind)
            rows[key] = train_and_score(
                ArchSpec.from_dict(start["arch"]),
                folder / kind,
                one_train,
                one_dev,
                args.low_steps,
                init_checkpoint=start["checkpoint"],
                init_vocabulary="data",
            )
            rows[key]["train_utterances"] = len(read_manifest(one_train))
            save(args, results)


def retime(args: argparse.Namespace) -> None:
    """Time every row's model again, side by side (see the module's step 5)."""
    results = load(args)
    rows = {
        f"{group}/{key}": row
        for group in ("presets", "searched")
        for key, row in results.get(group, {}).items()
    }
    models = {name: load_model(Path(row["checkpoint"]))[0] for name, row in rows.items()}
    measured = compare_latency(models, rounds=5, repeats=10, threads=1)
    for name, row in rows.items():
        row.setdefault("latency_ms_after_training", row["latency_ms"])
        row["latency_ms"] = measured[name].median_ms
        row["latency_retimed"] = True
    save(args, results)


def plot(languages: list[str], models: dict[str, dict[str, Any]]) -> None:
    """Dev CER per language, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(languages)), 3.6))
    width = 0.8 / len(models)
    for k, (name, row) in enumerate(models.items()):
        xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(languages))]
        ys = [100 * row["languages"][x]["cer"] for x in languages]
        ax.bar(xs, ys, width, label=f"{name} (mean {100 * row['mean_cer']:.1f}%)")
    ax.set_xticks(range(len(languages)), languages)
    ax.set(ylabel="dev CER %", title="Common Voice: dev CER by language")
    ax.legend(fontsize=8)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def section(results: dict[str, Any]) -> str:
    presets = results.get("presets", {})
    searched = results.get("searched", {})
    if not presets:
        return "Not run yet: `.venv/bin/python benchmarks/multilingual.py`."
    info = results["info"]
    best_name, best = min(presets.items(), key=lambda kv: kv[1]["mean_cer"])
    languages = sorted(best["languages"])
    lines = [
        f"Measured on {info['cpu']}, torch {info['torch']}: the Common Voice sample "
        f"(`../shared/data/commonvoice`), {len(languages)} languages ({', '.join(languages)}) "
        "read as one corpus, split speaker-disjointly within each language (20% of each to "
        f"dev, seed 0). Every model trained from scratch for {info['steps']} optimiser steps "
        "of the default recipe on all the languages at once (one character inventory), 1 "
        "thread; dev CER per language, each by its own rules. Latency: 5 s of audio, 1 "
        "thread, median "
        + (
            "of all models timed side by side in 5 alternating rounds of 10 calls."
            if all(r.get("latency_retimed") for r in (*presets.values(), *searched.values()))
            else "of 10 right after each one's training."
        ),
        "",
    ]
    columns = {f"preset {n}": r for n, r in presets.items()}
    columns |= {f"searched {k}": r for k, r in searched.items()}
    rows = [
        [x, *(pct(r["languages"].get(x, {}).get("cer")) for r in columns.values())]
        for x in languages
    ]
    rows.append(["**mean**", *(pct(r["mean_cer"]) for r in columns.values())])
    rows.append(["**worst**", *(pct(r["worst_cer"]) for r in columns.values())])
    rows.append(["latency ms", *(f"{r['latency_ms']:.1f}" for r in columns.values())])
    rows.append(["params", *(f"{r['params'] / 1e6:.2f} M" for r in columns.values())])
    lines += [markdown_table(["dev CER %", *columns], rows, left=1), ""]
    if searched:
        top_key, top_row = min(searched.items(), key=lambda kv: kv[1]["mean_cer"])
        plot(languages, {f"preset {best_name}": best, f"searched {top_key}": top_row})
        lines += [f"![dev CER by language]({FIGURE.relative_to(REPO)})", ""]
    if searched:
        top = min(searched.values(), key=lambda r: r["mean_cer"])
        gain = 1 - top["mean_cer"] / best["mean_cer"]
        lines.append(
            f"Best preset by mean CER: {best_name} ({pct(best['mean_cer'])}%, "
            f"{best['latency_ms']:.1f} ms); best searched: {top['summary']} "
            f"({pct(top['mean_cer'])}%, {top['latency_ms']:.1f} ms): {100 * gain:.1f}% "
            "relative (goal: at least 10% lower at no higher latency). Search: "
            f"{results['search']['trials']} trials "
            f"({info.get('search_workers', 1)} at a time), "
            f"{results['search']['cpu_seconds'] / 3600:.1f} CPU-hours of training; the "
            "trials' latency objective was timed while other training ran."
        )
    low = results.get("low_resource", {})
    if low:
        langs = sorted({k.split("/")[0] for k in low})
        lines += [
            "",
            "**Low resource**: languages the multilingual models never heard, each alone "
            f"(its own speaker-disjoint split), {info['low_steps']} steps from the model's own "
            "multilingual weights, with the language's own vocabulary "
            "(`init_vocabulary: data`).",
            "",
            markdown_table(
                ["language", "train utterances", "best searched CER %", "best preset CER %"],
                [
                    [
                        x,
                        str(
                            low.get(f"{x}/searched", low.get(f"{x}/preset", {})).get(
                                "train_utterances", "-"
                            )
                        ),
                        pct(low.get(f"{x}/searched", {}).get("cer")),
                        pct(low.get(f"{x}/preset", {}).get("cer")),
                    ]
                    for x in langs
                ],
                left=1,
            ),
        ]
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/multilingual.py` (resumes)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--low-resource", nargs="+", default=["mt", "lv", "ro"])
    parser.add_argument("--low-steps", type=int, default=600)
    parser.add_argument("--workers", type=int, default=1, help="search trials at once")
    parser.add_argument("--report", action="store_true", help="only redraw the section")
    parser.add_argument(
        "--retime", action="store_true", help="time every row's model again, side by side"
    )
    args = parser.parse_args()
    heard = sorted(set(args.low_resource) & set(args.languages))
    if heard:
        parser.error(f"--low-resource {heard} are among --languages: pick languages not heard")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    if args.retime:
        retime(args)
    elif not args.report:
        results = load(args)
        results["info"] = {
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "steps": args.steps,
            "low_steps": args.low_steps,
            "search_workers": args.workers,
        }
        save(args, results)
        train_path, dev_path = data(args)
        presets_stage(args, train_path, dev_path)
        search_stage(args, train_path, dev_path)
        low_resource_stage(args)
    text = section(STORE.latest())
    update_section(REPO / "BENCHMARKS.md", "multilingual", "Multilingual search", text)
    print(text)


if __name__ == "__main__":
    main()
