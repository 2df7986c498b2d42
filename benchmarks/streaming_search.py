"""A streaming search on speechocean762 under a per-chunk compute budget, against the
streaming preset, and its front by FP32 against by INT8 dev WER.

Runs, from the repository root (budgets in optimiser steps at 1 torch thread per model, so the
scores do not depend on the machine's load; run ``--retime`` on a quiet machine at the end):

    .venv/bin/python benchmarks/streaming_search.py [--data ../shared/data] [--trials 16]
        [--rung-steps 600 1800] [--workers 2]
    .venv/bin/python benchmarks/streaming_search.py --retime

1. **Data**: the presets benchmark's speaker-disjoint split of speechocean762 (seed 0).
2. **Search**: ``recipes/speechocean762/streaming.yaml`` (streaming CTC encoders, chunks of
   160 or 320 ms, algorithmic latency <= 320 ms, compute per chunk <= 40 ms at 1 thread,
   <= 5 M parameters; objectives dev WER and compute per chunk), TPE, ``--trials`` trials on
   a ladder of ``--rung-steps`` (successive halving, the recipe's 100-utterance dev sample for
   the ladder's decisions).
3. **The streaming preset** (``conformer-transducer-streaming``) trained for as many steps as
   a trial that climbs the whole ladder (the sum of ``--rung-steps``), from scratch.
4. **Scores**: every trial that trained the whole ladder and the preset scored on the whole
   dev set, FP32 in PyTorch and INT8 in ONNX Runtime (the export dynamically quantised). A
   streaming model's WER is its streamed WER: whole-utterance inference with its chunk masks
   computes what feeding it chunk by chunk does (``tests/export/test_streaming.py``).
5. **Compute per chunk** (``--retime``): every scored model fed 5 s of audio chunk by chunk
   in PyTorch at 1 thread, all side by side in 5 alternating rounds (the search's own figure,
   taken while other trials trained, is kept as ``chunk_ms_in_search``).

The fronts (WER against compute per chunk) by FP32 and by INT8 WER, and the trials whose rank
by WER changes between them, go to BENCHMARKS.md "Streaming search"; every row to
``benchmarks/results/streaming_search.json`` as it finishes, so a rerun goes on where it
stopped.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import presets as preset_bench  # noqa: E402  (the presets benchmark, beside this file)
from budget_results import BudgetResults  # noqa: E402  (beside this file)

from speechnas._provenance import cpu_name  # noqa: E402
from speechnas.arch import ArchSpec  # noqa: E402
from speechnas.data.manifest import read_manifest  # noqa: E402
from speechnas.data.paths import default_data_root  # noqa: E402
from speechnas.evaluate.runner import evaluate_model  # noqa: E402
from speechnas.export.int8 import int8_scores  # noqa: E402
from speechnas.hardware.measure import profile_chunks_here  # noqa: E402
from speechnas.presets import preset  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402
from speechnas.search.config import (  # noqa: E402
    DataConfig,
    FidelityConfig,
    ParallelConfig,
    Rung,
    SearchConfig,
    load_search_config,
)
from speechnas.search.pareto import pareto_front  # noqa: E402
from speechnas.search.runner import open_store, run_search  # noqa: E402
from speechnas.train import TrainConfig, load_model, resumable_checkpoint, train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "streaming_search"
RESULTS = REPO / "benchmarks" / "results" / "streaming_search.json"
STORE = BudgetResults(RESULTS)
RECIPE = REPO / "recipes" / "speechocean762" / "streaming.yaml"
FIGURE = REPO / "benchmarks" / "figures" / "streaming_search.png"
DATASET = "speechocean762"
PRESET = "conformer-transducer-streaming"
#: Alternating rounds of the side-by-side chunk timing.
ROUNDS = 5

log = logging.getLogger("streaming_search")


def _budget(args: argparse.Namespace) -> str:
    return f"{args.trials}-trials/{'-'.join(map(str, args.rung_steps))}-steps"


def load(args: argparse.Namespace) -> dict[str, Any]:
    return STORE.load(_budget(args))


def save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    STORE.save(_budget(args), results)


def search_config(args: argparse.Namespace, train_path: Path, dev_path: Path) -> SearchConfig:
    recipe = load_search_config(RECIPE)
    return SearchConfig(
        name=f"so762_streaming_{args.trials}_{'_'.join(map(str, args.rung_steps))}",
        out_root=str(OUT / "search"),
        data=DataConfig(train_manifest=str(train_path), dev_manifest=str(dev_path)),
        space=recipe.space,
        strategy="tpe",
        n_trials=args.trials,
        seed=0,
        objectives=recipe.objectives,
        constraints=recipe.constraints,
        fidelity=FidelityConfig(
            rungs=tuple(Rung(1.0, steps=s) for s in args.rung_steps),
            pruner="successive_halving",
            reduction_factor=3,
            min_trials=3,
            metric="cer",
            dev_utterances=recipe.fidelity.dev_utterances,
        ),
        train=recipe.train,
        latency_repeats=10,
        parallel=ParallelConfig(
            executor="processes" if args.workers > 1 else "local", workers=args.workers
        ),
    )


def score(checkpoint: Path, dev_path: Path, workdir: Path) -> dict[str, Any]:
    """FP32 and INT8 dev scores of a trained model (the whole dev set)."""
    model, tokenizer, _ = load_model(checkpoint)
    dev = read_manifest(dev_path)
    fp32 = evaluate_model(model, tokenizer, dev, name="dev", rtf_utterances=0)
    int8 = int8_scores(model, tokenizer, dev, workdir, num_threads=1)
    return {
        "checkpoint": str(checkpoint),
        "wer": fp32.wer,
        "cer": fp32.cer,
        "wer_int8": int8.wer,
        "cer_int8": int8.cer,
        "int8_size_mb": int8.size_mb,
        "params": model.num_params(),
    }


def search_stage(args: argparse.Namespace, train_path: Path, dev_path: Path) -> None:
    config = search_config(args, train_path, dev_path)
    run_search(config, progress=False)
    records = open_store(config, for_search=False).records()
    results = load(args)
    results["search"] = {
        "name": config.name,
        "trials": len(records),
        "complete": sum(r.state == "COMPLETE" and r.cached_from is None for r in records),
        "pruned_before_training": sum(
            r.finished and r.rung < 0 and r.cached_from is None for r in records
        ),
        "cpu_seconds": sum(r.train_seconds for r in records),
    }
    save(args, results)
    rows = results.setdefault("trials", {})
    for r in records:
        key = f"trial-{r.number}"
        if r.state != "COMPLETE" or r.cached_from is not None or key in rows:
            continue
        if r.checkpoint is None or not isinstance(r.spec, ArchSpec):
            continue
        log.info("scoring %s: %s", key, r.spec.summary())
        row = score(Path(r.checkpoint), dev_path, OUT / "int8" / key)
        row |= {
            "arch": r.spec.to_dict(),
            "summary": r.spec.summary(),
            "algorithmic_ms": r.metrics["algorithmic_latency_ms"],
            "chunk_ms": r.metrics["chunk_latency_ms"],
            "chunk_ms_in_search": r.metrics["chunk_latency_ms"],
            "search_wer": r.metrics["wer"],
        }
        rows[key] = row
        save(args, results)


def preset_stage(args: argparse.Namespace, train_path: Path, dev_path: Path) -> None:
    results = load(args)
    if "preset" in results:
        return
    spec = preset(PRESET)
    steps = sum(args.rung_steps)
    config = TrainConfig(
        train_manifest=str(train_path),
        out_dir=str(OUT / "preset" / f"{PRESET}-{steps}"),
        arch=spec,
        max_steps=steps,
        max_epochs=10_000,
        threads=1,
        seed=0,
    )
    resume = resumable_checkpoint(config)
    result = train(config, resume=resume, overwrite=resume is None, progress=False)
    row = score(result.last_checkpoint, dev_path, OUT / "int8" / PRESET)
    chunk = profile_chunks_here(load_model(result.last_checkpoint)[0], spec, num_threads=1)
    row |= {
        "arch": spec.to_dict(),
        "summary": spec.summary(),
        "steps": result.steps,
        "algorithmic_ms": spec.algorithmic_latency_ms,
        "chunk_ms": chunk.compute_median_ms,
        "chunk_ms_in_search": chunk.compute_median_ms,
    }
    results["preset"] = row
    save(args, results)


def retime(args: argparse.Namespace) -> None:
    """Every scored model's compute per chunk, timed side by side (the module's step 5)."""
    results = load(args)
    rows = {**results.get("trials", {}), PRESET: results["preset"]}
    models = {
        key: (load_model(Path(row["checkpoint"]))[0], ArchSpec.from_dict(row["arch"]))
        for key, row in rows.items()
    }
    times: dict[str, list[float]] = {key: [] for key in rows}
    for k in range(ROUNDS):
        keys = list(rows)
        for key in keys[k % len(keys) :] + keys[: k % len(keys)]:
            model, spec = models[key]
            chunked = profile_chunks_here(model, spec, num_threads=1, seconds=5.0)
            times[key].append(chunked.compute_median_ms)
    for key, row in rows.items():
        row["chunk_ms"] = statistics.median(times[key])
        row["chunk_retimed"] = True
    save(args, results)


def fronts(trials: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """The trials on the front of (WER, compute per chunk), by FP32 and by INT8 WER."""
    keys = list(trials)
    out = {}
    for wer in ("wer", "wer_int8"):
        points = [(trials[k][wer], trials[k]["chunk_ms"]) for k in keys]
        out[wer] = [keys[i] for i in pareto_front(points)]
    return out


def ranks(trials: dict[str, dict[str, Any]], wer: str) -> dict[str, int]:
    ordered = sorted(trials, key=lambda k: (trials[k][wer], trials[k]["chunk_ms"]))
    return {key: i + 1 for i, key in enumerate(ordered)}


def plot(trials: dict[str, dict[str, Any]], best: dict[str, Any] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    on = fronts(trials)
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    for wer, colour, label in (("wer", "tab:blue", "FP32"), ("wer_int8", "tab:orange", "INT8")):
        xs = [trials[k]["chunk_ms"] for k in trials]
        ys = [100 * trials[k][wer] for k in trials]
        ax.scatter(xs, ys, color=colour, alpha=0.35, s=18)
        front = sorted(on[wer], key=lambda k: trials[k]["chunk_ms"])
        ax.plot(
            [trials[k]["chunk_ms"] for k in front],
            [100 * trials[k][wer] for k in front],
            "-o",
            color=colour,
            label=f"front by {label} WER",
        )
    if best is not None:
        for wer, marker in (("wer", "*"), ("wer_int8", "P")):
            ax.scatter(
                [best["chunk_ms"]],
                [100 * best[wer]],
                marker=marker,
                s=140,
                color="tab:red",
                label=f"{PRESET} ({'FP32' if wer == 'wer' else 'INT8'})",
            )
    ax.set(xlabel="compute per chunk, 1 thread (ms)", ylabel="streamed dev WER %")
    ax.set_title("Streaming search on speechocean762", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def section(results: dict[str, Any]) -> str:
    trials = results.get("trials", {})
    if not trials:
        return "Not run yet: `.venv/bin/python benchmarks/streaming_search.py`."
    info, search, best = results["info"], results["search"], results.get("preset")
    retimed = all(r.get("chunk_retimed") for r in (*trials.values(), *([best] if best else [])))
    lines = [
        f"Measured on {info['cpu']}, torch {info['torch']}: speechocean762 (the presets "
        "benchmark's speaker-disjoint split), the search of "
        "`recipes/speechocean762/streaming.yaml` (streaming CTC encoders, algorithmic latency "
        "<= 320 ms, compute per chunk <= 40 ms at 1 thread, <= 5 M parameters; objectives dev "
        f"WER and compute per chunk), TPE, {search['trials']} trials on a ladder of "
        f"{' + '.join(map(str, info['rung_steps']))} steps ({search['complete']} trained the "
        f"whole ladder, {search['pruned_before_training']} pruned before training, "
        f"{search['cpu_seconds'] / 3600:.1f} CPU-hours of training; {info['workers']} at a "
        f"time). Beside it, the streaming preset {PRESET} trained for "
        f"{sum(info['rung_steps'])} steps. WER: the whole dev set, streamed (chunk masks), "
        "FP32 in PyTorch and INT8 in ONNX Runtime (dynamic quantisation). Compute per chunk: "
        "audio fed chunk by chunk in PyTorch at 1 thread, the median per chunk: "
        + (
            f"5 s per model, all models side by side in {ROUNDS} alternating rounds."
            if retimed
            else "as measured during the search (10 s fed chunk by chunk, other training "
            "running beside it; the preset's timed alone after its training)."
        ),
        "",
    ]
    on = fronts(trials)
    fp32_rank, int8_rank = ranks(trials, "wer"), ranks(trials, "wer_int8")
    shown = sorted(set(on["wer"]) | set(on["wer_int8"]), key=lambda k: trials[k]["chunk_ms"])
    rows = []
    for key in shown:
        r = trials[key]
        rows.append(
            [
                key.replace("trial-", "trial "),
                r["summary"],
                f"{r['params'] / 1e6:.2f} M",
                f"{r['algorithmic_ms']:.0f}",
                f"{r['chunk_ms']:.2f}",
                f"{100 * r['wer']:.1f}",
                f"{100 * r['wer_int8']:.1f}",
                f"{fp32_rank[key]} / {int8_rank[key]}",
                ("FP32 " if key in on["wer"] else "") + ("INT8" if key in on["wer_int8"] else ""),
            ]
        )
    if best is not None:
        rows.append(
            [
                f"preset {PRESET}",
                best["summary"],
                f"{best['params'] / 1e6:.2f} M",
                f"{best['algorithmic_ms']:.0f}",
                f"{best['chunk_ms']:.2f}",
                f"{100 * best['wer']:.1f}",
                f"{100 * best['wer_int8']:.1f}",
                "-",
                "-",
            ]
        )
    header = ["model", "architecture", "params", "algorithmic ms", "chunk ms", "WER FP32 %"]
    header += ["WER INT8 %", "rank FP32 / INT8", "on front by"]
    lines += [markdown_table(header, rows, left=2), "", f"![fronts]({FIGURE.relative_to(REPO)})"]
    plot(trials, best)
    changed = [k for k in trials if fp32_rank[k] != int8_rank[k]]
    moved = ", ".join(f"{k} ({fp32_rank[k]} -> {int8_rank[k]})" for k in changed)
    lines += [
        "",
        f"Rank by WER changes between FP32 and INT8 for {len(changed)} of {len(trials)} "
        "trials that trained the whole ladder"
        + (f": {moved}" if changed else "")
        + "; the fronts differ by "
        + (", ".join(sorted(set(on["wer"]) ^ set(on["wer_int8"]))) or "nothing")
        + ".",
        "",
        "Reproduce: `.venv/bin/python benchmarks/streaming_search.py` (resumes), then "
        "`--retime` on a quiet machine.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--rung-steps", type=int, nargs="+", default=[600, 1800])
    parser.add_argument("--workers", type=int, default=1, help="search trials at once")
    parser.add_argument("--report", action="store_true", help="only redraw the section")
    parser.add_argument("--retime", action="store_true", help="time every model's chunks again")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    if args.retime:
        retime(args)
    elif not args.report:
        results = load(args)
        results["info"] = {
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "rung_steps": args.rung_steps,
            "workers": args.workers,
        }
        save(args, results)
        train_path, dev_path, _ = preset_bench._split(DATASET, args.data)
        search_stage(args, train_path, dev_path)
        preset_stage(args, train_path, dev_path)
    text = section(STORE.latest())
    update_section(REPO / "BENCHMARKS.md", "streaming-search", "Streaming search", text)
    print(text)


if __name__ == "__main__":
    main()
