"""Search strategies replayed on the reference table, in simulated CPU time.

Every strategy of :mod:`speechnas.search.strategies` that proposes from the space (random,
TPE, NSGA-II, regularised evolution, REINFORCE; Optuna's TPE and NSGA-II are the samplers of
``tpe`` and ``nsga2``) runs against the shipped reference table
(:class:`speechnas.search.replay.TableBlackbox`: an architecture is answered by its nearest
table architecture, its final dev CER the mean of the table's seeds, its cost what training it
that far cost) with three ways of deciding how far a trial trains:

- **full budget**: every trial to the table's budget;
- **successive halving**: asynchronous, rungs at 1 and 2 epochs and the budget, keep 1/3;
- **predicted stop**: after 2 epochs, the trial's final CER is predicted by extrapolating its
  dev curve so far (:func:`speechnas.estimators.extrapolate`), or (**learned**) by LightGBM
  over its spec features and its dev CER then, fitted on the other table architectures, and
  the trial stops when that
  prediction less the predictor's error, beside its latency, is dominated by a trial trained
  to the budget (:class:`~speechnas.search.replay.PredictedStop`, the replay of
  ``fidelity.pruner: predicted_front``); the error is measured on the trials trained to the
  budget so far, at least 0.02.

A maintained multi-fidelity peer runs on the same table where it is installed: Syne Tune's
MOASHA (multi-objective asynchronous successive halving, random proposals), with epochs as
its time attribute (``pip install -e '.[peers]'``).

Objectives: final dev CER and latency (the table's measured latency at 1 thread where every
architecture has one, else MACs per audio second). Hypervolume: of the (CER, latency) points
of the trials trained to the budget, up to the reference point (CER 1.0, 1.1 x the table's
largest latency), as a share of the hypervolume of the whole table's front. Simulated time
runs to the cost of training every table architecture to the budget once; 10 seeds each.

Results: ``benchmarks/results/replay_search.json``; BENCHMARKS.md "Replayed search";
figure ``benchmarks/figures/replay_search.png``.

    .venv/bin/python benchmarks/replay_search.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from recipe_study import machine_info

from speechnas.arch import ArchSpec
from speechnas.bench import ReferenceTable
from speechnas.estimators import Estimator, LearnedPredictor, cross_validate, extrapolate
from speechnas.reports import markdown_table, update_section
from speechnas.search.replay import (
    PATIENCE,
    FullBudget,
    PredictedStop,
    ReplayTrace,
    Scheduler,
    SuccessiveHalving,
    TableBlackbox,
    hypervolume_2d,
    replay,
)
from speechnas.search.strategies import suggest_spec
from speechnas.space import SpaceEncoding, SpeechSpace

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "replay_search.json"
FIGURE = REPO / "benchmarks" / "figures" / "replay_search.png"
SPACE_FILE = REPO / "recipes" / "speechocean762" / "search.yaml"
STRATEGIES = ("random", "tpe", "nsga2", "evolution", "rl")
PREDICT_AT = 2.0
MARGIN = 0.02
#: The hypervolume share whose time to reach the goal compares.
LEVEL = 0.98
#: Where the hypervolume is read, as shares of the horizon.
MARKS = (0.1, 0.25, 0.5, 1.0)


def curve_predictions(box: TableBlackbox, at_epoch: float) -> dict[str, float]:
    """Every table architecture's final CER extrapolated from its curve up to ``at_epoch``."""
    out = {}
    for arch in box.archs:
        run = box.table.run(arch, box.table.seeds[0])
        final_step = run.curve[-1].step
        points = [(run.at(e).step, box.cer(arch, e)) for e in box.epochs if e <= at_epoch]
        out[arch] = extrapolate(points, final_step)
    return out


class _EarlyCer(Estimator):
    """The blackbox's dev CER after ``epoch`` epochs: the signal a trial has by then."""

    def __init__(self, box: TableBlackbox, epoch: float) -> None:
        self.box = box
        self.epoch = epoch
        self.name = f"cer@{epoch:g}"

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        return self.box.cer(spec.arch_id, self.epoch), 0.0


def learned_predictions(box: TableBlackbox, at_epoch: float) -> dict[str, float]:
    """Every table architecture's final CER by LightGBM over its spec features and its dev
    CER after ``at_epoch`` epochs, fitted leaving that architecture out."""
    vocab = int(box.table.corpus["vocab_size"])
    predictor = LearnedPredictor(vocab, signals=[_EarlyCer(box, at_epoch)], model="lightgbm")
    specs = [box.table.entries[a].spec for a in box.archs]
    predicted = cross_validate(predictor, specs, [box.cer(a) for a in box.archs])
    return dict(zip(box.archs, predicted.tolist(), strict=True))


def rmse(box: TableBlackbox, predictions: dict[str, float]) -> float:
    return float(np.sqrt(np.mean([(p - box.cer(a)) ** 2 for a, p in predictions.items()])))


def schedulers(
    box: TableBlackbox, curve: dict[str, float], learned: dict[str, float]
) -> dict[str, Callable[[], Scheduler]]:
    """The ways a trial's training is decided; ``curve`` and ``learned``: the two predicted
    stops' predictions of every table architecture's final CER."""
    budget = box.epochs[-1]
    return {
        "full budget": FullBudget,
        "successive halving": lambda: SuccessiveHalving((1.0, 2.0, budget), reduction_factor=3),
        "predicted stop": lambda: PredictedStop(PREDICT_AT, curve, MARGIN),
        "predicted stop, learned": lambda: PredictedStop(
            PREDICT_AT, learned, MARGIN, label="learned predicted stop"
        ),
    }


def moasha_trace(box: TableBlackbox, space: SpeechSpace, seconds: float, seed: int) -> ReplayTrace:
    """Syne Tune's MOASHA on the table: random proposals (each of the space's decisions drawn
    independently, as its own config spaces are), stopped or promoted after every epoch by
    non-dominated sorting of (CER, latency) at the rung."""
    from syne_tune.backend.trial_status import Trial
    from syne_tune.config_space import choice, randint
    from syne_tune.optimizer.scheduler import SchedulerDecision
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

    encoding = SpaceEncoding(space)
    config_space = {
        d.name: randint(0, len(d.choices) - 1) if d.ordered else choice(list(d.choices))
        for d in encoding.decisions
    }
    np.random.seed(seed)  # MOASHA draws brackets and configs from numpy's global generator
    budget = box.epochs[-1]
    scheduler = MOASHA(
        config_space=config_space,
        metrics=["cer", "latency"],
        time_attr="epoch",
        max_t=int(budget),
        grace_period=1,
        reduction_factor=3,
        random_seed=seed,
    )
    trace = ReplayTrace(strategy="MOASHA (Syne Tune)", scheduler="its own", seed=seed)
    trained: dict[str, float] = {}
    clock, number = 0.0, 0
    while clock < seconds:
        suggestion = scheduler.suggest()
        assert suggestion is not None
        config = suggestion.config
        arch = box.nearest(suggest_spec(optuna.trial.FixedTrial(config), encoding))
        trial = Trial(trial_id=number, config=config, creation_time=None)  # type: ignore[arg-type]
        number += 1
        scheduler.on_trial_add(trial)
        if arch in trained:
            epochs = trained[arch]
        else:
            epochs = box.epochs[0]
            for e in box.epochs:
                epochs = e
                result = {"epoch": int(e), "cer": box.cer(arch, e), "latency": box.latency(arch)}
                if scheduler.on_trial_result(trial, result) == SchedulerDecision.STOP:
                    break
            trained[arch] = epochs
            clock += box.cost(arch, epochs)
        point = (box.cer(arch), box.latency(arch)) if epochs == budget else None
        trace.record(clock, arch, epochs, point)
        if trace.stalled(PATIENCE):
            break
    return trace


def peer_available() -> bool:
    try:
        import syne_tune  # noqa: F401
    except ImportError:
        return False
    return True


def run(
    box: TableBlackbox, space: SpeechSpace, seeds: int, done: dict[str, Any]
) -> dict[str, Any]:
    """Every row; ``done``: rows of an earlier call on the same table and seeds (kept), and
    where each new row is written as it finishes."""
    horizon = sum(box.cost(a) for a in box.archs)
    ceiling_latency = 1.1 * max(box.latency(a) for a in box.archs)
    reference = (1.0, ceiling_latency)
    best = hypervolume_2d([(box.cer(a), box.latency(a)) for a in box.archs], reference)
    grid = np.linspace(0.0, horizon, 101)
    rows: dict[str, dict[str, Any]] = done.setdefault("rows", {})
    curve = curve_predictions(box, PREDICT_AT)
    learned = learned_predictions(box, PREDICT_AT)
    makers = schedulers(box, curve, learned)

    def record(label: str, strategy: str, scheduler: str, traces: list[ReplayTrace]) -> None:
        curves = np.array([[t.hypervolume(x, reference) / best for x in grid] for t in traces])
        rows[label] = {
            "strategy": strategy,
            "scheduler": scheduler,
            "curve_mean": curves.mean(axis=0).tolist(),
            "curve_std": curves.std(axis=0).tolist(),
            "trained_archs": float(np.mean([len(set(t.archs)) for t in traces])),
            "at_budget": float(
                np.mean(
                    [len({a for a, p in zip(t.archs, t.points, strict=True) if p}) for t in traces]
                )
            ),
        }
        print(f"{label}: final HV share {rows[label]['curve_mean'][-1]:.3f}", flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(done, indent=1) + "\n")

    for strategy in STRATEGIES:
        for name, make in makers.items():
            if f"{strategy} / {name}" in rows:
                continue
            traces = [
                replay(strategy, box, make(), space, seconds=horizon, seed=s) for s in range(seeds)
            ]
            record(f"{strategy} / {name}", strategy, name, traces)
    if peer_available() and "MOASHA (Syne Tune)" not in rows:
        traces = [moasha_trace(box, space, horizon, s) for s in range(seeds)]
        record("MOASHA (Syne Tune)", "MOASHA (Syne Tune)", "its own", traces)
    return {
        **done,
        "horizon_cpu_seconds": horizon,
        "grid": grid.tolist(),
        "reference": list(reference),
        "best_hypervolume": best,
        "latency_name": box.latency_name,
        "seeds": seeds,
        "rows": rows,
        "predictor_rmse": rmse(box, curve),
        "learned_rmse": rmse(box, learned),
    }


def time_to(curve: list[float], grid: list[float], level: float) -> float | None:
    """The first grid time at which ``curve`` reaches ``level``."""
    for x, y in zip(grid, curve, strict=True):
        if y >= level - 1e-12:
            return x
    return None


def figure(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.array(results["grid"]) / 3600.0
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.5), sharey=True)
    panels = ["full budget", "successive halving", "predicted stop", "predicted stop, learned"]
    for ax, scheduler in zip(axes, panels, strict=True):
        for row in results["rows"].values():
            if row["scheduler"] not in (scheduler, "its own"):
                continue
            mean = np.array(row["curve_mean"])
            std = np.array(row["curve_std"])
            style = "--" if row["scheduler"] == "its own" else "-"
            ax.plot(grid, mean, style, label=row["strategy"])
            ax.fill_between(grid, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), alpha=0.12)
        ax.set_title(scheduler)
        ax.set_xlabel("simulated CPU-hours")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("hypervolume, share of the table's front (mean, ±1 sd)")
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)


def section(results: dict[str, Any]) -> str:
    info = results["info"]
    grid = results["grid"]
    horizon = results["horizon_cpu_seconds"]
    rows = []
    for row in results["rows"].values():
        curve = row["curve_mean"]
        marks = [curve[int(round(m * (len(grid) - 1)))] for m in MARKS]
        rows.append(
            [
                row["strategy"],
                row["scheduler"],
                *[f"{m:.3f}" for m in marks],
                f"{np.mean(curve):.3f}",
                f"{row['trained_archs']:.1f}",
                f"{row['at_budget']:.1f}",
            ]
        )
    lines = [
        f"Measured on {info['cpu']}, torch {info['torch']}, commit {info['commit']}: searches "
        f"replayed on the reference table `{results['table']}` ({results['architectures']} "
        f"architectures with every seed; objectives final dev CER and "
        f"{results['latency_name']}), {results['seeds']} seeds each, simulated time up to "
        f"{horizon / 3600:.1f} CPU-hours (the cost of training every table architecture to "
        "the budget once). Hypervolume of the trials trained to the budget, as a share of the "
        "whole table's front, at shares of that time (mean over seeds), and its mean over "
        "the whole time (the area under the curve: how early the front was found); "
        "architectures: distinct table architectures trained (any part of the budget) and "
        "trained to the budget, per search. Predicted stop: the curve of the first "
        f"{PREDICT_AT:g} epochs extrapolated (root mean square error over the table "
        f"{results['predictor_rmse']:.3f} CER); learned: LightGBM over spec features and the "
        f"dev CER after {PREDICT_AT:g} epochs, fitted leaving the architecture out "
        f"({results['learned_rmse']:.3f}); error floor {MARGIN}.",
        "",
        markdown_table(
            [
                "strategy",
                "trials train",
                *[f"HV at {m:g} x" for m in MARKS],
                "mean HV",
                "architectures",
                "at budget",
            ],
            rows,
            left=2,
        ),
        "",
    ]
    lines.append(
        f"Time to reach {LEVEL:.0%} of the table front's hypervolume (CPU-hours, mean curve; "
        "goal: the predicted stop in <= 1/3 of successive halving's time):"
    )
    lines.append("")
    goal_rows = []
    for strategy in STRATEGIES:
        times = {}
        for scheduler in (
            "full budget",
            "successive halving",
            "predicted stop",
            "predicted stop, learned",
        ):
            row = results["rows"].get(f"{strategy} / {scheduler}")
            times[scheduler] = None if row is None else time_to(row["curve_mean"], grid, LEVEL)

        def hours(x: float | None) -> str:
            return "never" if x is None else f"{x / 3600:.2f}"

        sh = times["successive halving"]
        ratios = [
            "-" if sh is None or ps is None or sh == 0 else f"{ps / sh:.2f}"
            for ps in (times["predicted stop"], times["predicted stop, learned"])
        ]
        goal_rows.append([strategy, *[hours(t) for t in times.values()], *ratios])
    peer = results["rows"].get("MOASHA (Syne Tune)")
    if peer is not None:
        t = time_to(peer["curve_mean"], grid, LEVEL)
        peer_time = "never" if t is None else f"{t / 3600:.2f}"
        goal_rows.append(["MOASHA (Syne Tune)", "-", peer_time, "-", "-", "-", "-"])
    lines.append(
        markdown_table(
            [
                "strategy",
                "full budget",
                "successive halving",
                "predicted stop",
                "learned predicted stop",
                "ratio",
                "ratio, learned",
            ],
            goal_rows,
            left=1,
        )
    )
    lines.append("")
    lines += [
        "![hypervolume against simulated CPU time](benchmarks/figures/replay_search.png)",
        "",
        "Reproduce: `.venv/bin/python benchmarks/replay_search.py` (the peer row needs "
        "`.venv/bin/pip install -e '.[peers]'`)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=None, help="a table file (default: the shipped one)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--report", action="store_true", help="redraw the figure and section from the results"
    )
    args = parser.parse_args()
    if args.report:
        results = json.loads(RESULTS.read_text())
        figure(results)
        update_section(
            REPO / "BENCHMARKS.md", "replay-search", "Replayed search", section(results)
        )
        return
    table = ReferenceTable.load(args.table)
    box = TableBlackbox(table)
    values = yaml.safe_load(SPACE_FILE.read_text())["space"]
    space = SpeechSpace(**values)
    start = time.perf_counter()
    key = {"table": table.name, "architectures": len(box.archs), "seeds": args.seeds}
    done: dict[str, Any] = dict(key)
    if RESULTS.exists():
        earlier = json.loads(RESULTS.read_text())
        if all(earlier.get(k) == v for k, v in key.items()):
            done = earlier  # the same table and seeds: its finished rows are kept
    results = run(box, space, args.seeds, done)
    results["info"] = machine_info()
    results["table"] = table.name
    results["architectures"] = len(box.archs)
    results["wall_seconds"] = time.perf_counter() - start
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    figure(results)
    text = section(results)
    update_section(REPO / "BENCHMARKS.md", "replay-search", "Replayed search", text)
    print(text)


if __name__ == "__main__":
    main()
