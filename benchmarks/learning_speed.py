"""Learning speed: dev CER against training minutes, old recipe against new, scratch and warm.

Each run trains one architecture on a speaker-disjoint split of a real corpus (that of the
recipe study, :mod:`recipe_study`) for a wall-clock budget of training on 2 threads (dev
scoring is not counted), scoring the whole dev split after every epoch:

* ``old``: the settings every model was trained with before the recipe study
  (``recipe_study.BASE``);
* ``study``: the defaults the recipe study chose (speechnas's defaults without intermediate
  CTC and with the residual branches at their random initial values);
* ``new``: speechnas's defaults (:class:`~speechnas.train.TrainConfig` with nothing set but
  the budget).

A ``warm`` run first trains the same architecture with the new recipe on the built-in
synthetic corpus (``speechnas data synth``, 1.5 h, seed 0) for ``--pretrain-minutes``, then
fine-tunes it on the real corpus from those weights for the rest of the budget: the
pre-training counts in the budget, so its curve starts at the pre-training minutes.

Each run also records the fp32 matrix-product peak measured as it starts, and the table shows
steps per minute beside it: the same code makes fewer steps per minute when the shared host is
busier, so a minute budget is only comparable between runs at a similar peak.

Results are written as each run finishes to ``benchmarks/results/learning_speed.json``; an
interrupted run resumes from its last checkpoint and a finished one is not run again. Then
BENCHMARKS.md "Learning speed" and ``benchmarks/figures/learning_speed.png``.

    .venv/bin/python benchmarks/learning_speed.py [--corpus speechocean762] [--minutes 30] \\
        [--archs conformer-ctc-xs ...] [--runs old/scratch new/scratch new/warm] \\
        [--arch-json NAME=spec.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import recipe_study  # noqa: E402  (the recipe study, beside this file: its splits and runs)
import torch  # noqa: E402
from training_speed import peak_gflops  # noqa: E402  (the matrix-product peak, beside this file)

import speechnas  # noqa: E402, F401  (before torch does work: its OpenMP settings)
from speechnas.arch import ArchSpec  # noqa: E402
from speechnas.data.paths import default_data_root  # noqa: E402
from speechnas.presets import PRESETS  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "learning_speed"
RESULTS = REPO / "benchmarks" / "results" / "learning_speed.json"
FIGURE = REPO / "benchmarks" / "figures" / "learning_speed.png"

#: The CTC presets (the streaming transducer and the AED model are not CTC-only).
CTC_PRESETS = ("conformer-ctc-xs", "conformer-ctc-s", "blstm-ctc", "cnn-ctc")
RECIPES: dict[str, dict[str, Any]] = {
    "old": recipe_study.BASE,
    "study": {"inter_ctc_weight": 0.0, "zero_init_residuals": False},
    "new": {},
}
STARTS = ("scratch", "warm")

#: Goals of the issue, by corpus: (what, minutes, CER or WER, at most).
GOALS = {
    "speechocean762": [
        ("best preset from scratch", 30.0, "cer", 0.35, "scratch"),
        ("best preset warm-started", 30.0, "cer", 0.25, "warm"),
        ("every preset off the plateau", 10.0, "cer", 0.70, "scratch"),
    ],
    "fsdd": [("held-out speaker", 5.0, "wer", 0.15, "scratch")],
}


def run_one(
    corpus: str,
    name: str,
    arch: ArchSpec,
    recipe: str,
    start: str,
    minutes: float,
    pretrain_minutes: float,
    data_root: Path,
) -> dict[str, Any]:
    """One curve: ``arch`` trained by ``recipe`` from ``start`` for ``minutes`` in all."""
    train_path, dev_path = recipe_study.split(corpus, data_root)
    # The machine's speed when the run starts: a shared host's speed drifts over a day, and a
    # budget in minutes buys fewer steps on a slower hour.
    peak = peak_gflops(torch.float32)
    settings = dict(RECIPES[recipe])
    out = OUT / corpus / name / f"{recipe}-{start}-{minutes:g}min"
    offset = 0.0
    pretrain: dict[str, Any] | None = None
    if start == "warm":
        synth_train, synth_dev = recipe_study.split("synthetic", data_root)
        pretrain = recipe_study.train_curve(
            synth_train, synth_dev, out / "pretrain", arch, pretrain_minutes, dict(settings)
        )
        settings["init_checkpoint"] = pretrain["checkpoint"]
        offset = pretrain["train_seconds"]
    run = recipe_study.train_curve(
        train_path, dev_path, out / "train", arch, minutes - offset / 60.0, settings
    )
    for point in run["curve"]:
        point["train_seconds"] += offset
    return {
        "corpus": corpus,
        "arch": name,
        "summary": arch.summary(),
        "recipe": recipe,
        "start": start,
        "budget_minutes": minutes,
        "peak_fp32_gflops": peak,
        "pretrain": None
        if pretrain is None
        else {k: pretrain[k] for k in ("steps", "train_seconds", "final_cer", "final_wer")},
        **run,
    }


def _marks(budget: float) -> list[float]:
    return [m for m in (5.0, 10.0, 20.0, 30.0) if m <= budget] or [budget]


def goal_lines(results: dict[str, Any]) -> list[str]:
    """Each goal of the corpus, met or missed by how much (from the runs so far)."""
    lines = []
    for corpus, goals in GOALS.items():
        runs = [r for r in results["runs"].values() if r["corpus"] == corpus]
        for what, minutes, metric, limit, start in goals:
            scored = [
                (recipe_study.score_at(r["curve"], minutes, metric), r)
                for r in runs
                if r["start"] == start and r["budget_minutes"] >= minutes
            ]
            scored = [(s, r) for s, r in scored if s is not None]
            if not scored:
                continue
            if what.startswith("every"):
                worst = {}
                for s, r in scored:
                    if r["recipe"] == "new":
                        worst[r["arch"]] = s
                if not worst:
                    continue
                off = [a for a, s in worst.items() if s >= limit]
                verdict = "met" if not off else f"missed by {', '.join(sorted(off))}"
                unrun = [p for p in CTC_PRESETS if p not in worst]
                if unrun:
                    verdict += f" so far; not yet run with the new recipe: {', '.join(unrun)}"
                listed = ", ".join(f"{a} {recipe_study.pct(s)}" for a, s in sorted(worst.items()))
                lines.append(
                    f"- {corpus}, {what} ({metric.upper()} < {100 * limit:.0f}% within "
                    f"{minutes:g} min, new recipe): {verdict} ({listed})."
                )
                continue
            best, run = min(scored, key=lambda sr: sr[0])
            gap = best - limit
            verdict = "met" if gap <= 0 else f"missed by {100 * gap:.1f} points"
            lines.append(
                f"- {corpus}, {what} ({metric.upper()} <= {100 * limit:.0f}% within "
                f"{minutes:g} min): {verdict}; best {recipe_study.pct(best)} ({run['arch']}, "
                f"{run['recipe']} recipe, {run['steps']} steps)."
            )
    return lines


def section(results: dict[str, Any]) -> str:
    info = results["info"]
    runs = sorted(
        results["runs"].values(),
        key=lambda r: (r["corpus"], r["arch"], r["budget_minutes"], r["recipe"], r["start"]),
    )
    old = ", ".join(f"{k} {v}" for k, v in recipe_study.BASE.items())
    lines = [
        f"Measured on {info['cpu']}, {recipe_study.THREADS} torch threads, torch "
        f"{info['torch']}, commit {info['commit']}. Each row trains one architecture (seed 0, "
        "character units) on a speaker-disjoint split of the corpus for the stated budget "
        "of training minutes (dev scoring not counted), with the learning-rate schedule "
        "fitted to the budget, and scores the whole dev split after every epoch; the score "
        "at t is the last one within t minutes (none past the budget), so the early columns "
        "are of a model whose learning rate has not yet decayed. Steps/min: over the whole "
        "run; fp32 peak: the matrix-product GFLOP/s measured as the run started (the host is "
        "shared and its speed drifts; rows without it ran before it was recorded). "
        f"Old recipe: {old}. Study recipe: the defaults "
        "the recipe study chose (batches of 40 s, clean start), without intermediate CTC "
        "and with random residual branches. New recipe: speechnas's defaults (the study's "
        "with intermediate CTC and residual branches starting at zero). Warm: first "
        "trained with the same recipe on the built-in synthetic corpus "
        f"({recipe_study.SYNTH_HOURS:g} h, seed 0) for the stated pre-training minutes, "
        "which count in the budget, then fine-tuned on the corpus.",
        "",
    ]
    budgets = sorted({r["budget_minutes"] for r in runs})
    marks = sorted({m for b in budgets for m in _marks(b)})
    header = ["corpus", "architecture", "recipe", "start", "steps", "steps/min", "fp32 peak"]
    header += [f"CER at {m:g} min" for m in marks] + ["final CER", "final WER"]
    rows = []
    for r in runs:
        start = r["start"]
        if r["pretrain"]:
            start += f" ({r['pretrain']['train_seconds'] / 60:.0f} min synthetic)"
        rows.append(
            [
                r["corpus"],
                r["arch"],
                r["recipe"],
                start,
                r["steps"],
                f"{r['steps'] / (r['train_seconds'] / 60):.0f}",
                f"{r['peak_fp32_gflops']:.0f}" if "peak_fp32_gflops" in r else "-",
                *(
                    recipe_study.pct(recipe_study.score_at(r["curve"], m))
                    if m <= r["budget_minutes"]
                    else "-"
                    for m in marks
                ),
                recipe_study.pct(r["final_cer"]),
                recipe_study.pct(r["final_wer"]),
            ]
        )
    lines.append(markdown_table(header, rows, left=4))
    goals = goal_lines(results)
    if goals:
        lines += ["", "Goals:", "", *goals]
    lines += [
        "",
        f"![dev CER against training minutes]({FIGURE.relative_to(REPO)})",
        "",
        "Reproduce: `.venv/bin/python benchmarks/learning_speed.py` (add `--corpus fsdd "
        "--minutes 5` for FSDD)",
    ]
    return "\n".join(lines)


def figure(results: dict[str, Any]) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results["runs"].values():
        groups.setdefault((r["corpus"], r["arch"]), []).append(r)
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False)
    styles = {
        ("old", "scratch"): "C7",
        ("study", "scratch"): "C1",
        ("study", "warm"): "C4",
        ("new", "scratch"): "C0",
        ("new", "warm"): "C2",
    }
    for ax, ((corpus, arch), runs) in zip(axes.flat, sorted(groups.items()), strict=False):
        for r in sorted(runs, key=lambda r: (r["recipe"], r["start"])):
            xs = [c["train_seconds"] / 60 for c in r["curve"]]
            ys = [100 * c["dev_cer"] for c in r["curve"]]
            ax.plot(
                xs,
                ys,
                marker=".",
                color=styles.get((r["recipe"], r["start"])),
                label=f"{r['recipe']} recipe, {r['start']}",
            )
        for _, minutes, metric, limit, _ in GOALS.get(corpus, []):
            if metric == "cer":
                ax.plot([minutes], [100 * limit], marker="*", color="C3", markersize=10)
        ax.set_title(f"{arch} on {corpus}", fontsize=9)
        ax.set_xlabel("training minutes (2 threads)")
        ax.set_ylabel("dev CER (%)")
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def _archs(names: list[str], json_specs: list[str]) -> dict[str, ArchSpec]:
    archs = {name: PRESETS[name] for name in names}
    for item in json_specs:
        name, _, path = item.partition("=")
        archs[name] = ArchSpec.from_dict(json.loads(Path(path).read_text()))
    return archs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_root())
    parser.add_argument("--corpus", choices=sorted(recipe_study.CORPORA), default="speechocean762")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--pretrain-minutes", type=float, default=10.0)
    parser.add_argument("--archs", nargs="*", choices=sorted(PRESETS), default=list(CTC_PRESETS))
    parser.add_argument(
        "--arch-json", nargs="*", default=[], help="NAME=PATH: an architecture spec (JSON)"
    )
    parser.add_argument(
        "--runs",
        nargs="*",
        default=["new/scratch", "old/scratch", "new/warm"],
        help=f"recipe/start pairs, recipe in {set(RECIPES)}, start in {set(STARTS)}",
    )
    args = parser.parse_args()
    pairs = [tuple(r.split("/")) for r in args.runs]
    for pair in pairs:
        if len(pair) != 2 or pair[0] not in RECIPES or pair[1] not in STARTS:
            parser.error(f"--runs: {'/'.join(pair)} is not recipe/start")
    if args.corpus == "synthetic" and any(start == "warm" for _, start in pairs):
        parser.error("--corpus synthetic: a warm start pre-trains on that corpus itself")
    archs = _archs(args.archs, args.arch_json)
    results: dict[str, Any] = {"runs": {}}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    results["info"] = recipe_study.machine_info()
    for recipe, start in pairs:
        for name, arch in archs.items():
            key = f"{args.corpus}|{name}|{recipe}|{start}|{args.minutes:g}"
            if key in results["runs"]:
                continue
            r = run_one(
                args.corpus,
                name,
                arch,
                recipe,
                start,
                args.minutes,
                args.pretrain_minutes,
                args.data,
            )
            results["runs"][key] = r
            print(f"{key}: final CER {r['final_cer']:.3f}, best {r['best_cer']:.3f}", flush=True)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
            _write_section(results)
    _write_section(results)  # also when every run was there: the section follows the script
    print(section(results))


def _write_section(results: dict[str, Any]) -> None:
    figure(results)
    update_section(REPO / "BENCHMARKS.md", "learning-speed", "Learning speed", section(results))


if __name__ == "__main__":
    main()
