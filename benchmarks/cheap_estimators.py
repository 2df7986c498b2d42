"""Cheap estimators against the reference table: how well each orders the architectures.

For every architecture of the shipped reference table that all its seeds have finished, each
estimator of :mod:`speechnas.estimators` scores it, and its order is compared (Spearman rho,
Kendall tau) with the table's dev CER at the budget's end:

- against **one seed** (the mean over the seeds of the agreement with each), the column in
  which the reference's own seed-to-seed agreement is the ceiling; an estimator that reads a
  seed's first steps (training speed, early score, curve extrapolation, and a predictor
  using them) is compared with the *other* seed, so the noise of the run it read does not
  count for it;
- against **the mean of the seeds**, the steadier reference (for those estimators the mean
  includes the run they read).

Zero-cost proxies and params/MACs are computed here (one batch of 16 training utterances,
seed 0); the estimators that read the first steps of a run read them from the table (its
runs are the budget's recipe with the seed: the same steps a run here takes first), at the
cost of that share of the run. The learned predictors are validated leaving one
architecture out. Costs are CPU-seconds per architecture, and the share of one reference
run's CPU-seconds.

Results: ``benchmarks/results/cheap_estimators.json`` (zero-cost scores kept per
architecture, so a rerun computes only the new ones); BENCHMARKS.md "Cheap estimators".

    .venv/bin/python benchmarks/cheap_estimators.py
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from recipe_study import machine_info, split

from speechnas.bench import ReferenceTable, kendall_tau, spearman_rho
from speechnas.data.paths import default_data_root
from speechnas.estimators import (
    PROXIES,
    CurveExtrapolation,
    EarlyScore,
    Estimator,
    LearnedPredictor,
    ProbeBatch,
    TablePrefix,
    TrainingSpeed,
    ZeroCostEstimator,
    cross_validate,
)
from speechnas.reports import markdown_table, update_section

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "cheap_estimators.json"
FIGURE = REPO / "benchmarks" / "figures" / "cheap_estimators.png"
TSE_STEPS = (25, 50, 100, 250)


def _agreement(scores: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    return spearman_rho(scores, reference), kendall_tau(scores, reference)


def zero_cost_scores(
    table: ReferenceTable, archs: list[str], probe: ProbeBatch, cache: dict[str, Any]
) -> None:
    """Fill ``cache[proxy][arch] = [score, cpu_seconds]`` for every proxy and architecture."""
    for proxy in PROXIES:
        done = cache.setdefault(proxy, {})
        estimator = ZeroCostEstimator(proxy, probe)
        for arch_id in archs:
            if arch_id not in done:
                est = estimator.estimate(table.entries[arch_id].spec)
                done[arch_id] = [est.score, est.cpu_seconds]
                print(f"{proxy} {arch_id}: {est.score:.4g} ({est.cpu_seconds:.1f} s)", flush=True)


def _by_seed(
    table: ReferenceTable, archs: list[str], make: Callable[[TablePrefix, int], Estimator]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per seed: the scores of ``make(that seed's runs, seed)``, and their costs."""
    out = {}
    for seed in table.seeds:
        estimator = make(TablePrefix(table, seed), seed)
        ests = [estimator.estimate(table.entries[a].spec) for a in archs]
        out[seed] = (np.array([e.score for e in ests]), np.array([e.cpu_seconds for e in ests]))
    return out


def evaluate(table: ReferenceTable, zero_cost: dict[str, Any]) -> dict[str, Any]:
    archs = table.complete()
    specs = [table.entries[a].spec for a in archs]
    seeds = table.seeds
    one = {s: table.scores("cer", seeds=[s], archs=archs) for s in seeds}
    mean = table.scores("cer", archs=archs)
    run_cost = float(np.mean([table.training_cpu_seconds(a) for a in archs]))
    rows: list[dict[str, Any]] = []

    def other(seed: int) -> int:
        return next(s for s in seeds if s != seed)

    # The reference against itself.
    pairs = [_agreement(one[s], one[other(s)]) for s in seeds]
    rows.append(
        {
            "estimator": "reference: one seed against the other",
            "kind": "reference",
            "rho_one": float(np.mean([p[0] for p in pairs])),
            "tau_one": float(np.mean([p[1] for p in pairs])),
            "rho_mean": None,
            "tau_mean": None,
            "cpu_seconds": run_cost,
        }
    )

    def spec_row(name: str, kind: str, scores: np.ndarray, cost: float) -> None:
        agree = [_agreement(scores, one[s]) for s in seeds]
        rho_mean, tau_mean = _agreement(scores, mean)
        rows.append(
            {
                "estimator": name,
                "kind": kind,
                "rho_one": float(np.mean([a[0] for a in agree])),
                "tau_one": float(np.mean([a[1] for a in agree])),
                "rho_mean": rho_mean,
                "tau_mean": tau_mean,
                "cpu_seconds": cost,
            }
        )

    def prefix_row(
        name: str, kind: str, by_seed: dict[int, tuple[np.ndarray, np.ndarray]]
    ) -> None:
        agree = [_agreement(by_seed[s][0], one[other(s)]) for s in seeds]
        to_mean = [_agreement(by_seed[s][0], mean) for s in seeds]
        rows.append(
            {
                "estimator": name,
                "kind": kind,
                "rho_one": float(np.mean([a[0] for a in agree])),
                "tau_one": float(np.mean([a[1] for a in agree])),
                "rho_mean": float(np.mean([a[0] for a in to_mean])),
                "tau_mean": float(np.mean([a[1] for a in to_mean])),
                "cpu_seconds": float(np.mean([by_seed[s][1].mean() for s in seeds])),
            }
        )

    for proxy in PROXIES:
        values = np.array([zero_cost[proxy][a][0] for a in archs])
        cost = float(np.mean([zero_cost[proxy][a][1] for a in archs]))
        if proxy in ("params", "macs"):
            # As an estimator, a bigger model is predicted better; at a short budget the
            # smaller ones may learn faster, so both directions are shown.
            spec_row(f"{proxy}, more is better", "size", values, cost)
            spec_row(f"{proxy}, fewer is better", "size", -values, cost)
        else:
            spec_row(proxy, "zero-cost", values, cost)

    epoch_steps = {
        s: [max(table.run(a, s).curve[k].step for a in archs) for k in range(len(table.epochs()))]
        for s in seeds
    }
    budget = int(np.median([table.run(a, seeds[0]).curve[-1].step for a in archs]))
    for steps in TSE_STEPS:
        by_seed = _by_seed(table, archs, lambda src, _seed, n=steps: TrainingSpeed(src, n))
        prefix_row(f"training speed, first {steps} steps", "training", by_seed)
    for k in range(len(table.epochs()) - 1):
        by_seed = _by_seed(
            table, archs, lambda src, seed, k=k: EarlyScore(src, epoch_steps[seed][k])
        )
        prefix_row(f"dev CER after epoch {k + 1} of the budget's schedule", "early", by_seed)
        if k >= 1:
            curve = _by_seed(
                table,
                archs,
                lambda src, seed, k=k: CurveExtrapolation(src, epoch_steps[seed][k], budget),
            )
            prefix_row(f"learning curve from epochs 1-{k + 1}, extrapolated", "curve", curve)

    vocab = int(table.corpus["vocab_size"])
    for model in ("lightgbm", "ridge"):
        predictor = LearnedPredictor(vocab, model=model)
        predicted = cross_validate(predictor, specs, list(mean))
        spec_row(f"predictor ({model}), spec features", "predictor", predicted, 0.0)
        for steps in (50, 100):
            by_seed = {}
            for seed in seeds:
                signal = TrainingSpeed(TablePrefix(table, seed), steps)
                with_signal = LearnedPredictor(vocab, model=model, signals=[signal])
                target = list(table.scores("cer", seeds=[seed], archs=archs))
                scores = cross_validate(with_signal, specs, target)
                costs = np.array([signal.estimate(s).cpu_seconds for s in specs])
                by_seed[seed] = (scores, costs)
            prefix_row(
                f"predictor ({model}), spec + training speed of {steps} steps",
                "predictor",
                by_seed,
            )
    for row in rows:
        row["share_of_run"] = row["cpu_seconds"] / run_cost
    return {
        "architectures": len(archs),
        "seeds": list(seeds),
        "run_cpu_seconds": run_cost,
        "budget_steps": budget,
        "rows": rows,
    }


def section(results: dict[str, Any]) -> str:
    ev = results["evaluation"]
    info = results["info"]
    rows = []
    for r in ev["rows"]:

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.2f}"

        rows.append(
            [
                r["estimator"],
                f(r["rho_one"]),
                f(r["tau_one"]),
                f(r["rho_mean"]),
                f(r["tau_mean"]),
                f"{r['cpu_seconds']:.1f}",
                f"{100 * r['share_of_run']:.1f}%",
            ]
        )
    lines = [
        f"Measured on {info['cpu']}, torch {info['torch']}, commit {info['commit']}, against "
        f"the reference table `{results['table']}` ({ev['architectures']} architectures with "
        f"every seed, seeds {', '.join(map(str, ev['seeds']))}; dev CER at the budget's "
        f"end, about {ev['budget_steps']} steps; one run costs "
        f"{ev['run_cpu_seconds'] / 60:.1f} CPU-minutes on average). Each estimator's order "
        "of the architectures against the reference's: Spearman rho and Kendall tau. "
        "*One seed*: the mean over the seeds of the agreement with that seed's order; an "
        "estimator that reads the first steps of a seed's run is compared with the other "
        "seed, so the reference's own row (one seed against the other) is its ceiling. "
        "*Mean of seeds*: against the mean of all seeds' scores. Zero-cost proxies at "
        "initialisation on 16 training utterances; the first steps of runs read from the "
        "table (the same steps a run here takes first), costed as their share of the run; "
        "learned predictors validated leaving one architecture out. Cost: CPU-seconds per "
        "architecture, and as a share of one reference run.",
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
        "Reproduce: `.venv/bin/python benchmarks/cheap_estimators.py`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--table", default=None, help="a table file (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = ReferenceTable.load(args.table)
    results: dict[str, Any] = {"zero_cost": {}}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    train_path, _ = split("speechocean762", args.data)
    probe = ProbeBatch.from_manifest(train_path, utterances=16, seed=0)
    archs = table.complete()
    zero_cost_scores(table, archs, probe, results["zero_cost"])
    results["info"] = machine_info()
    results["table"] = table.name
    results["evaluation"] = evaluate(table, results["zero_cost"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    text = section(results)
    update_section(REPO / "BENCHMARKS.md", "cheap-estimators", "Cheap estimators", text)
    print(text)


if __name__ == "__main__":
    main()
