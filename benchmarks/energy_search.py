"""A search for low energy per utterance on the demo corpus, and what its energy figures are.

Runs, from the repository root:

    .venv/bin/python benchmarks/energy_search.py [--trials 9] [--rung-steps 500]

1. Says whether this machine has a readable energy counter (RAPL under
   ``/sys/class/powercap``); where it has none, every figure below is the estimate of
   :class:`speechnas.hardware.energy.EnergyModel` and the section states its basis.
2. Synthesises the demo's corpus (``speechnas demo``'s defaults, seed 0; cached under
   ``runs/benchmarks/energy/corpus``) and runs the demo's search with the objectives
   ``[wer, energy_j]`` instead of ``[wer, latency_ms]``: the same space, ladder and recipe.
3. The front's best model by WER is retrained briefly and exported (FP32 and INT8), and the
   bundle is checked twice by the drift monitor, so the report shows its history.

The search resumes from its database (``runs/benchmarks/energy/search``); the section is
redrawn from it with ``--report``. BENCHMARKS.md "Energy per utterance".
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import dataclasses
import glob
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from speechnas._provenance import cpu_name
from speechnas.demo import DemoSettings, demo_search_config
from speechnas.export.monitor import check_drift
from speechnas.hardware.energy import EnergyModel, energy_counter
from speechnas.reports import markdown_table, update_section
from speechnas.search.config import FinalConfig, SearchConfig
from speechnas.search.final import run_final
from speechnas.search.reporting import write_report
from speechnas.search.runner import open_store, run_search, summarise
from speechnas.search.store import TrialRecord

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "energy"


def config_for(args: argparse.Namespace) -> SearchConfig:
    from speechnas.synth import synthesize_corpus

    settings = DemoSettings(trials=args.trials, rung_steps=args.rung_steps, seed=0)
    out = Path(args.out)
    corpus = synthesize_corpus(out / "corpus", hours=args.hours, seed=settings.seed)
    config = demo_search_config(settings, dict(corpus.manifests), out)
    return dataclasses.replace(
        config,
        objectives=("wer", "energy_j"),
        final=FinalConfig(
            top_k=1,
            epochs=100,
            max_minutes=args.final_minutes,
            export=("fp32", "int8"),
            from_trial=True,
        ),
    )


def counter_facts() -> dict[str, Any]:
    counter = energy_counter()
    return {
        "cpu": cpu_name(),
        "powercap": Path("/sys/class/powercap").exists(),
        "rapl_files": sorted(glob.glob("/sys/class/powercap/intel-rapl:*/energy_uj")),
        "counter": None if counter is None else str(counter),
    }


def run(args: argparse.Namespace) -> SearchConfig:
    config = config_for(args)
    summary = run_search(config, progress=not args.no_progress)
    final = run_final(summary.front, config)
    for f in final:
        bundle = f.get("export", {}).get("dir")
        if bundle and not (Path(bundle) / "monitor.jsonl").exists():
            for _ in range(2):  # two checks: a history the report can draw
                check_drift(bundle, repeats=20)
    write_report(config)
    return config


def _row(r: TrialRecord) -> list[str]:
    m = r.metrics
    return [
        str(r.number),
        r.spec.summary() if r.spec else "",
        f"{100 * m['wer']:.1f}",
        f"{100 * m['cer']:.1f}",
        f"{1e3 * m['energy_j']:.2f}",
        f"{m['latency_ms']:.1f}",
        f"{m['macs'] / 1e6:.0f}",
        f"{m['params'] / 1e3:.0f}k",
    ]


def section(config: SearchConfig, facts: dict[str, Any]) -> str:
    records = open_store(config, for_search=False).records()
    summary = summarise(records, config.objectives)
    scored = [
        r
        for r in records
        if {"energy_j", "latency_ms"} <= r.metrics.keys() and r.cached_from is None
    ]
    complete = [r for r in records if r.state == "COMPLETE" and "wer" in r.metrics]
    rho_latency = spearmanr(
        [r.metrics["energy_j"] for r in scored], [r.metrics["latency_ms"] for r in scored]
    ).statistic
    rho_macs = spearmanr(
        [r.metrics["energy_j"] for r in scored], [r.metrics["macs"] for r in scored]
    ).statistic
    model = EnergyModel()
    measured = any(r.metrics.get("energy_measured") == 1.0 for r in scored)
    estimates = [  # the arithmetic's share of each estimated figure
        model.estimate_j(r.metrics["macs"] * config.latency_seconds, 0.0) / r.metrics["energy_j"]
        for r in scored
        if r.metrics.get("energy_measured") == 0.0
    ]
    share = float(np.median(estimates)) if estimates else float("nan")
    final_path = config.run_dir / "final.json"
    final = json.loads(final_path.read_text())["models"] if final_path.exists() else []
    counter = (
        f"a readable RAPL package counter ({facts['counter']}): figures are measured"
        if facts["counter"]
        else "no readable energy counter ("
        + (
            "no `/sys/class/powercap` in this virtual machine"
            if not facts["powercap"]
            else "RAPL files present but not readable"
        )
        + "): every figure is an estimate"
    )
    lines = [
        f"On this machine ({facts['cpu']}) speechnas found {counter}.",
        "",
        f"**Basis of the estimate** ({model.source}): {model.joules_per_mac * 1e12:.1f} pJ per "
        f"float32 multiply-accumulate and {model.joules_per_byte * 1e12:.0f} pJ per byte moved "
        "from DRAM (Horowitz, ISSCC 2014, 45 nm), the traffic being the float32 weights read "
        "once and the peak activations written and read once, for one "
        f"{config.latency_seconds:g} s utterance."
        + (
            f" On these models the arithmetic is a median {100 * share:.0f}% of the estimate."
            if estimates
            else ""
        )
        + " A 45 nm price overstates a current CPU's joules; "
        "the estimate orders models by their work and traffic, and where a counter is readable "
        "`EnergyModel.fit` fits both prices to measured models instead.",
        "",
        f"**The search**: the demo's (same space, ladder, recipe and corpus: "
        f"`speechnas demo` defaults, seed 0) with `objectives: [wer, energy_j]`; "
        f"{summary.finished} trials, {summary.complete} reached the last rung "
        f"({len(complete)} complete with a dev WER). Over the {len(scored)} trials measured, the "
        f"{'measured' if measured else 'estimated'} energy orders them as their measured CPU "
        "latency does to Spearman "
        f"rho {rho_latency:.2f} (as their MACs to {rho_macs:.2f}); "
        + ("figures measured." if measured else "figures estimated.")
        + " The front (dev WER against energy per utterance):",
        "",
        markdown_table(
            [
                "trial",
                "architecture",
                "dev WER %",
                "dev CER %",
                "energy mJ",
                "latency ms",
                "MMACs/s",
                "params",
            ],
            [_row(r) for r in sorted(summary.front, key=lambda r: r.metrics["energy_j"])],
            left=2,
        ),
    ]
    for f in final:
        scores = ", ".join(f"{k} WER {100 * v['wer']:.1f}%" for k, v in f["scores"].items())
        lines += [
            "",
            f"The front's best by WER (trial {f['trial']}, {f['summary']}) retrained from its "
            f"trial's weights ({f['epochs']} epochs, at most {config.final.max_minutes:g} "
            f"min): {scores}. Its export bundle was checked twice by `speechnas monitor`; the "
            "search's HTML report (`runs/benchmarks/energy/search/report/index.html`) shows "
            "the energy front with each figure labelled estimated or measured, and the "
            "bundle's latency history against its recorded figures.",
        ]
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/energy_search.py` (resumes)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--rung-steps", type=int, default=500)
    parser.add_argument("--final-minutes", type=float, default=5.0)
    parser.add_argument("--hours", type=float, default=DemoSettings().hours)
    parser.add_argument("--out", default=str(OUT), help="corpus and search folder")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report", action="store_true", help="only redraw the section")
    args = parser.parse_args()
    config = config_for(args) if args.report else run(args)
    text = section(config, counter_facts())
    update_section(REPO / "BENCHMARKS.md", "energy", "Energy per utterance", text)
    print(text)


if __name__ == "__main__":
    main()
