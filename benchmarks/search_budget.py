"""A search on speechocean762 under a CPU latency budget, pruning on predicted latency.

Runs, from the repository root (nothing else heavy meanwhile: latency is measured):

    .venv/bin/python benchmarks/search_budget.py [--data ../shared/data] [--trials 24]
        [--table-specs 120] [--budget-ms B] [--minutes 5] [--report-only]

Three steps:

1. A latency table of ``--table-specs`` architectures sampled (seed 0, stratified by encoder
   family and depth) from the search's own space, profiled part by part on this CPU with the
   search's thread count (2), as ``speechnas profile --export`` does. Kept in
   ``runs/benchmarks/search_budget/`` and reused.
2. The search of ``benchmarks/search_so762.py`` (same split, space and optimiser settings;
   rungs capped at 10/20/40% of ``--minutes``) with ``constraints.max_latency_ms`` set to the
   budget (default: the table's 40th-percentile latency, so the budget binds) and
   ``hardware.table`` set: every proposal is predicted first, and one predicted over budget is
   recorded PRUNED with its prediction, never built for measuring nor trained.
3. The section "Search under a latency budget" of BENCHMARKS.md: every trial with its
   predicted latency (10-90% band), its measured latency where it was measured, and what
   happened to it; and how much training the predicted prunes saved.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import presets as preset_bench  # noqa: E402  (the presets benchmark, beside this file)
import search_so762  # noqa: E402  (its space, split and settings)

from speechnas._provenance import cpu_name  # noqa: E402
from speechnas.data.paths import default_data_root  # noqa: E402
from speechnas.hardware.lut import LatencyTable  # noqa: E402
from speechnas.hardware.tables import profile_table, sample_specs  # noqa: E402
from speechnas.hardware.targets import make_target  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402
from speechnas.search.config import Constraints, HardwareConfig  # noqa: E402
from speechnas.search.runner import PREDICTED_PRUNE, open_store, run_search  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "search_budget"
RESULTS = REPO / "benchmarks" / "results"
THREADS = 2


def latency_table(count: int) -> Path:
    """The search space's latency table on this CPU, extended to ``count`` models."""
    path = OUT / f"table-cpu-torch-{THREADS}t.json"
    table = LatencyTable.load(path) if path.exists() else None
    have = len(table.models) if table is not None else 0
    specs = sample_specs(search_so762.SPACE, count, seed=0, stratified=True)[have:]
    if specs:
        start = time.perf_counter()
        table = profile_table(specs, make_target("cpu-torch", THREADS), table=table)
        table.save(path)
        logging.info("profiled %d models in %.0f s", len(specs), time.perf_counter() - start)
    return path


def run(args: argparse.Namespace, data_root: Path) -> dict[str, Any]:
    table_path = latency_table(args.table_specs)
    measured = [m["latency_ms"] for m in LatencyTable.load(table_path).models]
    budget = args.budget_ms or float(np.percentile(measured, 40))
    train, dev, _ = preset_bench._split(search_so762.DATASET, data_root)
    base = search_so762.search_config(args, train, dev)
    config = dataclasses.replace(
        base,
        name=f"so762_budget{budget:.0f}ms_{args.strategy}_s{args.seed}_{args.trials}",
        out_root=str(OUT),
        constraints=Constraints(max_latency_ms=budget),
        hardware=HardwareConfig(table=str(table_path)),
    )
    start = time.perf_counter()
    summary = run_search(config, progress=False)
    records = open_store(config, for_search=False).records()
    payload = {
        "args": {"trials": args.trials, "minutes": args.minutes, "table_specs": args.table_specs},
        "machine": cpu_name(),
        "torch": torch.__version__,
        "budget_ms": budget,
        "table_models": len(measured),
        "seconds": time.perf_counter() - start,
        "summary": summary.describe(config.n_trials),
        "predicted_over": summary.predicted_over,
        "training_saved_s": summary.training_saved_s,
        "config": config.to_dict(),
        "trials": [
            {
                "number": r.number,
                "state": r.state,
                "rung": r.rung,
                "summary": r.spec.summary() if r.spec else "",
                "metrics": r.metrics,
                "reason": r.reason,
                "cached_from": r.cached_from,
            }
            for r in records
        ],
    }
    (RESULTS / "search_budget.json").write_text(json.dumps(payload, indent=2, default=str))
    return payload


def outcome(trial: dict[str, Any], budget: float) -> str:
    reason = trial["reason"] or ""
    if reason.startswith(PREDICTED_PRUNE):
        return "pruned on prediction (not built, not trained)"
    if reason.startswith("constraint:"):
        return "flagged: measured over budget (not trained)"
    measured = trial["metrics"].get("latency_ms")
    if measured is not None and measured > budget:
        return "flagged: measured over budget"
    if trial["state"] == "COMPLETE":
        return "trained to the last rung"
    if trial["cached_from"] is not None:
        return f"same architecture as trial {trial['cached_from']}"
    return f"trained, stopped at rung {trial['rung']}" if trial["rung"] >= 0 else trial["state"]


def section(result: dict[str, Any]) -> str:
    budget = result["budget_ms"]
    a = result["args"]
    rows = []
    for t in result["trials"]:
        m = t["metrics"]
        predicted = m.get("predicted_latency_ms")
        band = (
            f"{predicted:.1f} ({m['predicted_low_ms']:.1f}-{m['predicted_high_ms']:.1f})"
            if predicted is not None
            else "-"
        )
        measured = m.get("latency_ms") if "wer" in m or "params" in m else None
        wer = f"{100 * m['wer']:.1f}%" if "wer" in m else "-"
        rows.append(
            [
                t["number"],
                t["summary"],
                band,
                f"{measured:.1f}" if measured is not None else "-",
                wer,
                outcome(t, budget),
            ]
        )
    trained = [t for t in result["trials"] if "wer" in t["metrics"]]
    within = [t for t in trained if t["metrics"]["latency_ms"] <= budget]
    lines = [
        f"Measured on {result['machine']}, {THREADS} torch threads, torch {result['torch']}. "
        f"Budget: {budget:.1f} ms for 5 s of audio (the 40th percentile of a "
        f"{result['table_models']}-model latency table profiled on this CPU from the search's "
        "space, seed 0, stratified by family and depth). The search is "
        "`benchmarks/search_so762.py`'s (TPE, dev WER and measured latency, speechocean762 "
        "speaker-disjoint split) with `constraints.max_latency_ms` and `hardware.table` set, "
        f"and {a['minutes']:g} minutes of training per model at most: the WERs are those of "
        "barely trained models; what this shows is the budget at work. "
        f"{result['summary']} {len(trained)} trials were trained; {len(within)} of them "
        f"measured within budget. It took {result['seconds'] / 60:.0f} min of wall time.",
        "",
        markdown_table(
            [
                "trial",
                "architecture",
                "predicted ms (10-90%)",
                "measured ms",
                "dev WER (last rung)",
                "what happened",
            ],
            rows,
            left=2,
        ),
        "",
        "Reproduce: `.venv/bin/python benchmarks/search_budget.py "
        f"--trials {a['trials']} --minutes {a['minutes']:g} --table-specs {a['table_specs']}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data root")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--strategy", default="tpe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=5.0, help="per-model budget")
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--table-specs", type=int, default=120)
    parser.add_argument("--budget-ms", type=float, default=None)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(THREADS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "search_budget.json"
    if args.report_only:
        result = json.loads(path.read_text())
    else:
        result = run(args, args.data or default_data_root())
    update_section(
        REPO / "BENCHMARKS.md", "search_budget", "Search under a latency budget", section(result)
    )
    print(result["summary"])


if __name__ == "__main__":
    main()
