"""A real search on speechocean762, its front plotted against the hand-designed presets.

Runs, from the repository root (nothing else heavy meanwhile: budgets are wall-clock):

    .venv/bin/python benchmarks/search_so762.py [--data ../shared/data] [--trials 12]
        [--strategy tpe] [--minutes 10] [--top-k 2] [--rung-steps 800 1600]
        [--rung-minutes 4 6]

The split is the presets benchmark's (speaker-disjoint dev, seed 0). The search is
multi-objective (dev WER, measured CPU latency for 5 s of audio) over CTC encoders, with a
two-rung ladder on the whole training set: 800 optimiser steps (what a small model needs to
leave the CTC plateau with the default recipe) capped at 4 minutes, then 1,600 more capped at
6, so a trial that completes the ladder has had at most the ``--minutes`` that a preset gets,
and no trial trains longer than the model it would become. The best ``--top-k`` of its front
are then retrained from scratch on the whole training set with exactly the presets' per-model
budget (``--minutes`` of wall-clock training, the default recipe) and scored on the
whole dev set, so searched models and presets are compared on equal terms.

Each stage's results are kept in ``benchmarks/results/`` (the presets' rows and the search's
trials and retrained models, as JSON), so a stage that is there is not run again
(``--redo presets search``); the section "Search on speechocean762" of BENCHMARKS.md and
``benchmarks/figures/search_so762.png`` are written from them. ``--stages search`` runs the
search alone. The presets take about 65 minutes and the search with its retraining about
85-90 (on 2026-12-06: 60-67 for the 12 trials, 11 per retrained model); both resume where they
stopped (the presets row by row, the search from its database).
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import presets as preset_bench  # noqa: E402  (the presets benchmark, beside this file)
from training_speed import peak_gflops  # noqa: E402  (the matrix-product peak, beside this file)

from speechnas._provenance import cpu_name  # noqa: E402
from speechnas.data.paths import default_data_root  # noqa: E402
from speechnas.hardware.measure import untrained_model  # noqa: E402
from speechnas.presets import PRESETS, preset  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402
from speechnas.search.config import (  # noqa: E402
    DataConfig,
    FidelityConfig,
    FinalConfig,
    Rung,
    SearchConfig,
)
from speechnas.search.final import run_final  # noqa: E402
from speechnas.search.pareto import dominates  # noqa: E402
from speechnas.search.reporting import write_report  # noqa: E402
from speechnas.search.runner import run_search  # noqa: E402
from speechnas.space import SpeechSpace  # noqa: E402
from speechnas.timing import compare_latency  # noqa: E402
from speechnas.train import TrainSettings, load_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "search_so762"
FIGURE = REPO / "benchmarks" / "figures" / "search_so762.png"
RESULTS = REPO / "benchmarks" / "results"
DATASET = "speechocean762"
#: Alternating rounds of the side-by-side latency measurement (10 calls per model each).
LATENCY_ROUNDS = 5

SPACE = SpeechSpace(
    frontends=("logmel", "mfcc"),
    n_mels=(40, 80),
    subsamplings=("conv2d", "conv1d"),
    subsampling_factors=(4,),
    time_reduction=False,
    encoders=("conformer", "transformer", "cnn", "lstm", "blstm", "cnn_lstm"),
    attentions=("rel", "abs"),
    min_layers=2,
    max_layers=6,
    widths=(96, 144, 192, 256),
    kernels=(5, 11, 15),
    heads=(2, 4),
    ffn_expansions=(2.0, 4.0),
    activations=("swish", "relu"),
    norms=("layernorm", "batchnorm"),
    decoders=("ctc",),
)


def search_config(args: argparse.Namespace, train: Path, dev: Path) -> SearchConfig:
    # The default recipe and threads, as benchmarks/presets.py trains the presets.
    settings = TrainSettings(threads=2)
    # Steps first (800 leave the CTC plateau with the default recipe; BENCHMARKS.md "Recipe
    # study"), each rung capped in minutes so the whole ladder fits the final budget.
    rungs = tuple(
        Rung(1.0, steps=steps, max_minutes=minutes)
        for steps, minutes in zip(args.rung_steps, args.rung_minutes, strict=True)
    )
    return SearchConfig(
        name=f"so762_{args.strategy}_s{args.seed}_{args.minutes:g}min_{args.trials}_"
        + "-".join(f"{r.steps}steps{r.max_minutes:g}min" for r in rungs),
        out_root=str(OUT),
        data=DataConfig(train_manifest=str(train), dev_manifest=str(dev)),
        space=SPACE,
        strategy=args.strategy,
        n_trials=args.trials,
        seed=args.seed,
        objectives=("wer", "latency_ms"),
        fidelity=FidelityConfig(
            rungs=rungs,
            reduction_factor=3,
            min_trials=3,
            early_stop_patience=4,
            metric="cer",
            dev_utterances=100,
        ),
        train=settings,
        final=FinalConfig(top_k=args.top_k, epochs=1000, max_minutes=args.minutes),
        latency_repeats=10,
    )


def preset_rows(data_root: Path, minutes: float, force: bool) -> list[dict[str, Any]]:
    """Every preset on the same split and budget: the presets benchmark's rows (trained now
    where it has none with today's recipe), kept with this benchmark's results."""
    rows = [
        preset_bench.cached_row(DATASET, name, minutes, data_root, force=force) for name in PRESETS
    ]
    path = RESULTS / "presets_speechocean762.json"
    path.write_text(json.dumps({"machine": cpu_name(), "rows": rows}, indent=2))
    return sorted(rows, key=lambda r: r["preset"])


def search_stage(args: argparse.Namespace, data_root: Path) -> dict[str, Any]:
    """Search, retrain the best of the front, and keep everything needed to report it."""
    from speechnas.search.runner import open_store

    train, dev, _ = preset_bench._split(DATASET, data_root)
    config = search_config(args, train, dev)
    peak = peak_gflops(torch.float32)
    start = time.perf_counter()
    summary = run_search(config, progress=False)
    final = run_final(summary.front, config)
    write_report(config)
    records = open_store(config, for_search=False).records()
    payload = {
        "machine": cpu_name(),
        "torch": torch.__version__,
        "minutes": args.minutes,
        "seconds": time.perf_counter() - start,
        # This invocation's time leaves out what an earlier, interrupted one did: the trials'
        # own wall time is kept in the study.
        "trial_seconds": sum(r.wall_seconds for r in records),
        "peak_fp32_gflops": peak,
        "config": config.to_dict(),
        "summary": {
            "finished": summary.finished,
            "complete": summary.complete,
            "stopped_at_rung": summary.stopped_at_rung,
            "constrained": summary.constrained,
            "cached": summary.cached,
            "failed": summary.failed,
        },
        "trials": [
            {
                "number": r.number,
                "state": r.state,
                "rung": r.rung,
                "arch_id": r.arch_id,
                "summary": r.spec.summary() if r.spec else "",
                "metrics": r.metrics,
                "reason": r.reason,
                "cached_from": r.cached_from,
            }
            for r in records
        ],
        "final": final,
    }
    (RESULTS / "search_so762.json").write_text(json.dumps(payload, indent=2, default=str))
    return payload


def side_by_side_latency(search: dict[str, Any], presets: list[dict[str, Any]]) -> dict[str, bool]:
    """Measure every compared model's latency again, side by side, and use those figures.

    Each model's latency was measured right after its own training, at whatever load the
    shared host had then (an inversion of two presets' latencies showed that can be several
    times off); here they are measured in alternating rounds, so a load change falls on each
    alike. A preset whose checkpoint is not on this machine is measured from its architecture
    with seeded weights where that gives the same computation (CTC: one encoder pass and a
    greedy collapse, whatever the weights); a preset whose decoding length depends on its
    trained weights (transducer, attention decoder) keeps the latency measured beside the other
    presets after their training. Kept in ``benchmarks/results/search_so762_latency.json`` for
    the same models. Returns the models measured here, each with whether it was rebuilt with
    seeded weights (none where a retrained searched model's checkpoint is not on this machine:
    then every figure stays as it was)."""
    finals = {f"trial {f['trial']}": Path(f["checkpoint"]) for f in search["final"]}
    if not all(path.is_file() for path in finals.values()):
        return {}
    checkpoints = {p["preset"]: preset_bench.checkpoint(DATASET, p["preset"]) for p in presets}
    trained = {name: path for name, path in checkpoints.items() if path.is_file()} | finals
    specs = {name: preset(name) for name, path in checkpoints.items() if not path.is_file()}
    rebuilt = {name: spec for name, spec in specs.items() if spec.decoder.kind == "ctc"}
    key = {name: [str(path), path.stat().st_mtime] for name, path in trained.items()}
    key |= {name: ["seeded weights", spec.to_dict()] for name, spec in rebuilt.items()}
    cache = RESULTS / "search_so762_latency.json"
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    if cached.get("key") != json.loads(json.dumps(key)):
        models = {name: load_model(path)[0] for name, path in trained.items()}
        models |= {name: untrained_model(spec) for name, spec in sorted(rebuilt.items())}
        measured = compare_latency(models, rounds=LATENCY_ROUNDS, repeats=10, threads=2)
        cached = {"key": key, "ms": {name: m.median_ms for name, m in measured.items()}}
        cache.write_text(json.dumps(cached, indent=2))
    for f in search["final"]:
        f["latency_ms"] = cached["ms"][f"trial {f['trial']}"]
    for p in presets:
        if p["preset"] in cached["ms"]:
            p["latency_5s"] = cached["ms"][p["preset"]] / 1000
    return {name: name in rebuilt for name in cached["ms"]}


def plot(search: dict[str, Any], presets: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    tried = [t for t in search["trials"] if "wer" in t["metrics"] and t["cached_from"] is None]
    ax.scatter(
        [t["metrics"]["latency_ms"] for t in tried],
        [100 * t["metrics"]["wer"] for t in tried],
        color="0.7",
        marker="x",
        label="search trials (search fidelity, dev subset)",
    )
    final = search["final"]
    ax.scatter(
        [f["latency_ms"] for f in final],
        [100 * f["scores"]["dev"]["wer"] for f in final],
        color="tab:blue",
        s=60,
        label=f"searched, retrained ({search['minutes']:g} min each)",
    )
    for f in final:
        xy = (f["latency_ms"], 100 * f["scores"]["dev"]["wer"])
        ax.annotate(
            f"trial {f['trial']}", xy, textcoords="offset points", xytext=(5, -10), fontsize=8
        )
    # A preset far off the chart (a decoder that never stops) is drawn at its top edge.
    top = 150.0
    ax.scatter(
        [1000 * p["latency_5s"] for p in presets],
        [min(100 * p["wer"], top) for p in presets],
        color="tab:red",
        marker="*",
        s=150,
        label="hand-designed presets (same budget)",
    )
    for i, p in enumerate(sorted(presets, key=lambda p: p["latency_5s"])):
        xy = (1000 * p["latency_5s"], min(100 * p["wer"], top))
        label = p["preset"] + (f" (WER {100 * p['wer']:.0f}%)" if 100 * p["wer"] > top else "")
        # Alternate above and below so neighbours at the same WER do not overprint.
        offset = (-20, 6) if i % 2 == 0 else (-20, -12)
        ax.annotate(label, xy, textcoords="offset points", xytext=offset, fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([5, 10, 20, 50, 100, 200]))
    ax.set_ylim(top=top + 5)
    ax.set(
        xlabel="CPU latency, 5 s of audio (ms)",
        ylabel="dev WER (%)",
        title="speechocean762: searched vs hand-designed",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def section(
    search: dict[str, Any], presets: list[dict[str, Any]], side_by_side: dict[str, bool]
) -> str:
    config, summary, final = search["config"], search["summary"], search["final"]
    rows = [
        [
            f"searched (trial {f['trial']})",
            f["summary"],
            f"{100 * f['scores']['dev']['wer']:.1f}%",
            f"{100 * f['scores']['dev']['cer']:.1f}%",
            f"{f['params'] / 1e6:.2f} M",
            f"{f['latency_ms']:.0f} ms",
        ]
        for f in final
    ]
    rows += [
        [
            p["preset"],
            p["summary"],
            f"{100 * p['wer']:.1f}%",
            f"{100 * p['cer']:.1f}%",
            f"{p['params'] / 1e6:.2f} M",
            f"{1000 * p['latency_5s']:.0f} ms",
        ]
        for p in presets
    ]
    verdicts = []
    for p in presets:
        ref = (p["wer"], 1000 * p["latency_5s"])
        winners = [
            f"trial {f['trial']}"
            for f in final
            if dominates((f["scores"]["dev"]["wer"], f["latency_ms"]), ref)
        ]
        verdicts.append(
            f"- `{p['preset']}`: "
            + (
                f"dominated (WER and latency no worse, one better) by {', '.join(winners)}."
                if winners
                else "not dominated by any retrained searched architecture."
            )
        )
    missing = sorted(set(PRESETS) - {p["preset"] for p in presets})
    verdicts += [
        f"- `{name}`: not measured yet on this split (`--stages presets` adds it)."
        for name in missing
    ]
    fid = config["fidelity"]
    ladder = "/".join(Rung(**r).label for r in fid["rungs"])
    stopped = ", ".join(f"rung {k}: {n}" for k, n in sorted(summary["stopped_at_rung"].items()))
    lines = [
        f"Measured on {search['machine']}, 2 torch threads, torch {search['torch']}. Search: "
        f"{config['strategy']}, seed {config['seed']}, {summary['finished']} trials over CTC "
        "encoders (6 families, 2-6 layers, per-layer widths, kernels, heads, FFN sizes), "
        "objectives dev WER and measured CPU latency; ladder "
        f"{ladder} (data fraction, then epochs, steps or minutes), successive halving (factor "
        f"{fid['reduction_factor']}; stopped early: {stopped or 'none'}), trials scored by "
        f"{fid['metric'].upper()} on {fid['dev_utterances']} dev utterances; "
        f"{summary['complete']} trials reached the last rung. Then the best {len(final)} of "
        f"the front (at most {config['final']['top_k']}) were retrained from scratch on the whole "
        f"training split with the presets' budget ({search['minutes']:g} min of training "
        "each, same optimiser settings) and scored on the whole dev split, like the presets "
        f"(a retrained model at the epoch with its best dev {fid['metric'].upper()}, a preset "
        "at its last step). "
        + (
            f"The trials took {search['trial_seconds'] / 60:.0f} min of wall time in all, the "
            f"retraining {sum(f['train_seconds'] for f in final) / 60:.0f} min of training"
            if "trial_seconds" in search
            else f"Search and retraining took {search['seconds'] / 60:.0f} min of wall time"
        )
        + (
            f" (fp32 matrix-product peak as the run that finished it began: "
            f"{search['peak_fp32_gflops']:.0f} GFLOP/s; the presets' is in their table)."
            if "peak_fp32_gflops" in search
            else "."
        )
        + latency_note(presets, side_by_side),
        "",
        markdown_table(
            ["model", "architecture", "dev WER", "dev CER", "params", "latency 5 s"],
            rows,
            left=2,
        ),
        "",
        "![searched vs presets](benchmarks/figures/search_so762.png)",
        "",
        "Which presets a retrained searched architecture dominates (dev WER and latency):",
        *verdicts,
        "",
        "Reproduce: `.venv/bin/python benchmarks/search_so762.py`",
    ]
    return "\n".join(lines)


def latency_note(presets: list[dict[str, Any]], side_by_side: dict[str, bool]) -> str:
    """How the latency column was measured, model by model (``side_by_side``: what
    :func:`side_by_side_latency` measured, each with whether it was rebuilt)."""
    if not side_by_side:
        return (
            " Latency: measured for each model right after its training (the retrained "
            "models' checkpoints are not on this machine to measure them again side by side)."
        )
    rebuilt = [p["preset"] for p in presets if side_by_side.get(p["preset"], False)]
    kept = [p["preset"] for p in presets if p["preset"] not in side_by_side]
    return (
        f" Latency: measured again side by side, in {LATENCY_ROUNDS} alternating rounds of 10 "
        "calls each (median; 5 s of audio, batch 1, 2 threads), so the shared host's load "
        "changes fall on all alike"
        + (
            f"; {', '.join(f'`{n}`' for n in rebuilt)} from the architecture with seeded "
            "weights (the checkpoint is not on this machine; a CTC model's computation does "
            "not depend on its weights)"
            if rebuilt
            else ""
        )
        + (
            f"; {', '.join(f'`{n}`' for n in kept)} as measured beside the other presets after "
            "their training (a transducer's or attention decoder's decoding length depends on "
            "its trained weights)"
            if kept
            else ""
        )
        + "."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data root")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--strategy", default="tpe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=10.0, help="per-model budget")
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument(
        "--rung-steps", type=int, nargs="+", default=[800, 1600], help="steps per rung"
    )
    parser.add_argument(
        "--rung-minutes",
        type=float,
        nargs="+",
        default=[4.0, 6.0],
        help="training minutes per rung at most (one per rung)",
    )
    parser.add_argument("--stages", nargs="*", default=["presets", "search"])
    parser.add_argument("--redo", nargs="*", default=[], help="stages to run again")
    args = parser.parse_args()
    if len(args.rung_minutes) != len(args.rung_steps):
        parser.error("--rung-minutes needs one value per --rung-steps value")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(2)
    data_root = args.data or default_data_root()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for stage in args.redo:
        (
            RESULTS
            / {"presets": "presets_speechocean762.json", "search": "search_so762.json"}[stage]
        ).unlink(missing_ok=True)
    presets: list[dict[str, Any]] = []
    if "presets" in args.stages:
        presets = preset_rows(data_root, args.minutes, force="presets" in args.redo)
    elif (RESULTS / "presets_speechocean762.json").exists():
        presets = json.loads((RESULTS / "presets_speechocean762.json").read_text())["rows"]
    search_path = RESULTS / "search_so762.json"
    if search_path.exists():
        search = json.loads(search_path.read_text())
    elif "search" in args.stages:
        search = search_stage(args, data_root)
    else:
        print("no search results yet: run with --stages search")
        return
    side_by_side = side_by_side_latency(search, presets)
    plot(search, presets)
    text = section(search, presets, side_by_side)
    update_section(REPO / "BENCHMARKS.md", "search_so762", "Search on speechocean762", text)
    print(text)


if __name__ == "__main__":
    main()
