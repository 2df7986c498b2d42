"""Parallel search: what several workers buy on this machine, and what the driver costs per
trial with many Ray workers.

Runs, from the repository root (nothing else heavy meanwhile: it times wall clocks):

    .venv/bin/python benchmarks/parallel_search.py [--data ../shared/data]
        [--stages workers overhead] [--trials 8] [--steps 200] [--sleep 60]
        [--ray-workers 8 32 64]

Stage ``workers``: the same ``random`` search on speechocean762 (speaker-disjoint dev, the
recipe study's split) run with 1 worker (the ``local`` executor) and with 2 (``processes``),
1 PyTorch thread per trial: wall time, trials per hour, and whether both evaluate the same
architectures with the same metrics and reach the same front (dev CER against parameters,
one step-budgeted rung, no pruner: the comparison asks whether parallel running changes a
trial's result, not how the pruner orders completions).

Stage ``overhead``: a stand-in estimator that sleeps ``--sleep`` seconds instead of training,
run on a local Ray (``--ray-workers`` logical CPUs, one per trial) with the study in a real
PostgreSQL server; the strategy is TPE (the default) over the default space. Per trial: the
seconds the worker spent claiming (under the study's lock: recovery check, budget count, the
sampler's proposal, the trial's attributes) and telling (the result and its SQL row), and the
wall-clock seconds a worker slot lost per trial over the run (``workers * wall / trials -
sleep``: scheduling, start-up and waiting included). Each count of workers first runs one
trial per worker unmeasured, so that Ray has started its worker processes. A first row has
one process claim and tell trial after trial alone: what a claim costs on a core of its own.

Results go to ``benchmarks/results/parallel_search.json`` as each stage (and each row of
``overhead``) finishes; what is there is not run again unless ``--redo`` names its stage.
The section "Parallel search" of BENCHMARKS.md is written from them.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipe_study  # noqa: E402  (the recipe study, beside this file: its splits)

from speechnas._provenance import cpu_name  # noqa: E402
from speechnas.arch import ArchSpec  # noqa: E402
from speechnas.data.paths import default_data_root  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402
from speechnas.search.config import (  # noqa: E402
    DataConfig,
    FidelityConfig,
    FinalConfig,
    ParallelConfig,
    Rung,
    SearchConfig,
    search_config_from_dict,
)
from speechnas.search.evaluation import Claim, NoTrial  # noqa: E402
from speechnas.search.executor import InProcessExecutor  # noqa: E402
from speechnas.search.jobs import TrialJob, absolute, bound, evaluator_for  # noqa: E402
from speechnas.search.pareto import pareto_front  # noqa: E402
from speechnas.search.ray_executor import RayExecutor  # noqa: E402
from speechnas.search.record import write_attrs  # noqa: E402
from speechnas.search.runner import open_store, run_search  # noqa: E402
from speechnas.search.store import TrialRecord  # noqa: E402
from speechnas.space import SpeechSpace  # noqa: E402
from speechnas.testing.search import tiny_search  # noqa: E402
from speechnas.testing.servers import postgres_server  # noqa: E402
from speechnas.train import TrainSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "parallel_search"
RESULTS = REPO / "benchmarks" / "results" / "parallel_search.json"

SPACE = SpeechSpace(
    frontends=("logmel",),
    n_mels=(80,),
    subsamplings=("conv2d",),
    subsampling_factors=(4,),
    time_reduction=False,
    encoders=("conformer", "cnn", "lstm"),
    min_layers=1,
    max_layers=3,
    widths=(64, 96, 144),
    kernels=(5, 11),
    heads=(4,),
    ffn_expansions=(2.0,),
    activations=("swish",),
    norms=("layernorm",),
    decoders=("ctc",),
)


# --- stage "workers" ---------------------------------------------------------------------------


def workers_config(args: argparse.Namespace, workers: int, train: Path, dev: Path) -> SearchConfig:
    parallel = (
        ParallelConfig() if workers == 1 else ParallelConfig(executor="processes", workers=workers)
    )
    return SearchConfig(
        name=f"so762_random_{args.trials}x{args.steps}steps_w{workers}",
        out_root=str(OUT),
        data=DataConfig(train_manifest=str(train), dev_manifest=str(dev)),
        space=SPACE,
        strategy="random",
        n_trials=args.trials,
        seed=0,
        objectives=("cer", "params"),
        fidelity=FidelityConfig(
            rungs=(Rung(1.0, steps=args.steps),),
            pruner="none",
            early_stop_patience=None,
            metric="cer",
            dev_utterances=100,
        ),
        train=TrainSettings(threads=1),
        final=FinalConfig(top_k=0),
        latency_repeats=3,
        parallel=parallel,
    )


def run_workers(args: argparse.Namespace) -> dict[str, Any]:
    train, dev = recipe_study.split("speechocean762", Path(args.data))
    out: dict[str, Any] = {}
    for workers in (1, 2):
        config = workers_config(args, workers, train, dev)
        start = time.perf_counter()
        summary = run_search(config, progress=False)
        wall = time.perf_counter() - start
        records = open_store(config, for_search=False).records()
        trials = [
            {
                "number": r.number,
                "arch": r.spec.summary() if r.spec else "",
                "arch_id": r.arch_id,
                "cer": r.metrics.get("cer"),
                "wer": r.metrics.get("wer"),
                "params": r.metrics.get("params"),
                "train_seconds": r.train_seconds,
                "cached_from": r.cached_from,
            }
            for r in records
        ]
        out[str(workers)] = {
            "wall_s": wall,
            "finished": summary.finished,
            "trials": trials,
            "front": sorted(r.number for r in summary.front),
        }
        print(f"{workers} worker(s): {summary.finished} trials in {wall / 60:.1f} min")
    return out


# --- stage "overhead" --------------------------------------------------------------------------


#: This worker process's claim measurements, by trial number (the stand-in reads them back).
_claims: dict[int, dict[str, float]] = {}


def _timed_lock(lock: Any) -> list[float]:
    """Time every hold of ``lock`` (this process's study lock); the list of hold times."""
    if not hasattr(lock, "_held_times"):
        hold = lock.hold
        times: list[float] = []

        @contextlib.contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[None]:
            with hold(*args, **kwargs):
                start = time.perf_counter()
                try:
                    yield
                finally:
                    times.append(time.perf_counter() - start)

        lock.hold = timed
        lock._held_times = times
    held: list[float] = lock._held_times
    return held


@dataclass(frozen=True)
class SleepJob(TrialJob):
    """The search's job with a stand-in estimator: the trial sleeps instead of training;
    its objective values are made up from its architecture."""

    seconds: float = 60.0

    def claim(self) -> Claim | NoTrial:
        held = _timed_lock(evaluator_for(self.config).store.lock)  # opened once: not timed
        held.clear()
        start, cpu = time.perf_counter(), time.process_time()
        claimed = super().claim()
        if not isinstance(claimed, NoTrial):
            _claims[claimed[0].number] = {
                "claim_s": time.perf_counter() - start,
                "claim_cpu_s": time.process_time() - cpu,
                # Holds nest (re-entrant): the longest is the outermost.
                "claim_lock_s": max(held, default=0.0),
            }
        return claimed

    def evaluate(self, trial: Any, spec: Any) -> TrialRecord:
        assert isinstance(spec, ArchSpec)
        store = evaluator_for(self.config).store
        time.sleep(self.seconds)
        start = time.perf_counter()
        made_up = zlib.crc32(spec.arch_id.encode()) / 2**32
        metrics = {"wer": made_up, "params": float(len(spec.to_json()))}
        values = [metrics[o] for o in self.config.objectives]
        claim = _claims.pop(trial.number, {})
        write_attrs(trial.set_user_attr, metrics={**metrics, **claim}, rung=0)
        store.tell(trial, values)
        told = time.perf_counter() - start
        record = TrialRecord.from_frozen(
            store.study.get_trials(deepcopy=False)[trial.number], self.config.objectives
        )
        return replace(record, metrics={**record.metrics, "tell_s": told})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_overhead(
    args: argparse.Namespace, previous: dict[str, Any], save: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """The overhead rows; those in ``previous`` are kept, each new one saved as it ends."""
    root = OUT / "overhead"
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = dict(previous)
    with postgres_server(max_connections=1000) as url:
        if "alone" not in out:
            out["alone"] = _alone(root, url, 2 * max(args.ray_workers))
            save(out)
        for workers in args.ray_workers:
            if str(workers) not in out:
                out[str(workers)] = _on_ray(root, url, workers, args.sleep)
                save(out)
    return out


def _study(root: Path, url: str, name: str, n: int) -> SearchConfig:
    """The stand-in's search ``name`` of ``n`` trials, its study created by this process."""
    config = absolute(replace(_tiny(root), name=name, n_trials=n, storage=url))
    open_store(config).close()
    return config


def _alone(root: Path, url: str, n: int) -> dict[str, Any]:
    """One process claiming and telling ``n`` trials with no sleep and nobody else: a claim's
    cost uncontended, over the second half (the study as large as the largest run's)."""
    config = _study(root, url, "overhead_alone", n)
    records: list[TrialRecord] = []
    with bound(evaluator_for(config)):
        InProcessExecutor().run(SleepJob(config, n, seconds=0.0), records.append, lambda: None)
    row = _claim_stats(records[n // 2 :]) | {"trials": n, "sleep_s": 0.0}
    print(f"alone: {json.dumps(row)}")
    return row


def _on_ray(root: Path, url: str, workers: int, sleep: float) -> dict[str, Any]:
    """``2 * workers`` trials of ``sleep`` seconds on a local Ray of ``workers`` CPUs, after
    an unmeasured warm-up of one 1-second trial per worker (Ray starts its workers)."""
    import ray

    ray.init(
        num_cpus=workers,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=256 * 2**20,
    )
    try:
        walls = []
        for label, n, seconds in (("warm-up", workers, 1.0), ("measured", 2 * workers, sleep)):
            config = _study(root, url, f"overhead_w{workers}_{label}", n)
            records: list[TrialRecord] = []
            start = time.perf_counter()
            RayExecutor(workers).run(
                SleepJob(config, n, seconds=seconds), records.append, lambda: None
            )
            walls.append(time.perf_counter() - start)
    finally:
        ray.shutdown()
    row = _claim_stats(records) | {
        "trials": n,
        "sleep_s": sleep,
        "wall_s": walls[-1],
        "slot_overhead_s": workers * walls[-1] / n - sleep,
        "warmup_wall_s": walls[0],
    }
    print(f"{workers} Ray workers: {json.dumps(row)}")
    return row


def _claim_stats(records: list[TrialRecord]) -> dict[str, float]:
    claims = [r.metrics["claim_s"] for r in records]
    tells = [r.metrics["tell_s"] for r in records]
    cpu = [r.metrics["claim_cpu_s"] for r in records]
    locked = [r.metrics["claim_lock_s"] for r in records]
    return {
        "claim_median_s": _percentile(claims, 0.5),
        "claim_p95_s": _percentile(claims, 0.95),
        "claim_max_s": max(claims),
        "claim_cpu_median_s": _percentile(cpu, 0.5),
        "claim_lock_median_s": _percentile(locked, 0.5),
        "claim_lock_p95_s": _percentile(locked, 0.95),
        "tell_median_s": _percentile(tells, 0.5),
        "tell_p95_s": _percentile(tells, 0.95),
    }


def _tiny(root: Path) -> SearchConfig:
    """The stand-in's search: the default space and strategy, tone-word data (only read
    when a worker opens the study), no training."""
    changes = {"space": {}, "strategy": "tpe", "strategy_options": {}}
    changes |= {"objectives": ["wer", "params"], "out_root": str(root / "runs")}
    return search_config_from_dict(tiny_search(root, **changes))


# --- the section -------------------------------------------------------------------------------


def front_of(trials: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    done = [t for t in trials if t["cer"] is not None]
    points = [(t["cer"], t["params"]) for t in done]
    return sorted(
        (done[i]["arch_id"], done[i]["cer"], done[i]["params"]) for i in pareto_front(points)
    )


def section(results: dict[str, Any]) -> str:
    lines = [
        f"Measured on {results.get('machine', '?')}, 2 cores, torch "
        f"{results.get('torch', '?')}; `benchmarks/parallel_search.py` writes this section "
        "(its results: `benchmarks/results/parallel_search.json`)."
    ]
    workers = results.get("workers")
    if workers:
        one, two = workers["1"], workers["2"]
        args = results.get("workers_args", {})
        rows = []
        for key, label in (("1", "1 (`local`)"), ("2", "2 (`processes`)")):
            w = workers[key]
            n = w["finished"]
            rows.append(
                [
                    label,
                    str(n),
                    f"{w['wall_s'] / 60:.1f}",
                    f"{3600 * n / w['wall_s']:.1f}",
                    f"{sum(t['train_seconds'] for t in w['trials']) / 60:.1f}",
                ]
            )
        by_number = [
            {t["number"]: (t["arch_id"], t["cer"], t["params"]) for t in w["trials"]}
            for w in (one, two)
        ]
        same_trials = by_number[0] == by_number[1]
        fronts = [front_of(w["trials"]) for w in (one, two)]
        cers = [t["cer"] for t in one["trials"] if t["cer"] is not None]
        shown = ", ".join(f"{a[:8]} {100 * c:.1f}% CER {p / 1e6:.2f} M" for a, c, p in fronts[0])
        lines += [
            "",
            f"**Workers.** The same `random` search on speechocean762 (seed 0, "
            f"{args.get('trials')} trials over conformer/cnn/lstm CTC encoders of 1-3 layers, "
            f"widths 64-144; one rung of {args.get('steps')} optimiser steps on the whole "
            "training split, no pruner; scored by CER on 100 dev utterances; objectives dev "
            f"CER and parameters; 1 PyTorch thread per trial). At {args.get('steps')} steps "
            f"these models are still on the CTC plateau (dev CER {100 * min(cers):.0f}-"
            f"{100 * max(cers):.0f}%): the stage measures throughput and whether running in "
            "parallel changes a trial's result, not model quality:",
            "",
            markdown_table(
                ["workers", "trials", "wall min", "trials / hour", "training min (sum)"], rows
            ),
            "",
            f"Speed-up {one['wall_s'] / two['wall_s']:.2f}x on 2 cores. Every trial number "
            f"evaluated the same architecture with the same dev CER and parameters at 1 and 2 "
            f"workers: {'yes' if same_trials else 'no'}; the same front: "
            f"{'yes' if fronts[0] == fronts[1] else 'no'} "
            f"({shown}).",
        ]
    overhead = results.get("overhead")
    if overhead:
        rows = []
        for key in sorted(overhead, key=lambda k: -1 if k == "alone" else int(k)):
            o = overhead[key]
            rows.append(
                [
                    "1 process, no sleep" if key == "alone" else key,
                    str(o["trials"]),
                    f"{o['claim_median_s'] * 1000:.0f} / {o['claim_p95_s'] * 1000:.0f}",
                    f"{o['claim_cpu_median_s'] * 1000:.0f}",
                    f"{o['claim_lock_median_s'] * 1000:.0f} / {o['claim_lock_p95_s'] * 1000:.0f}",
                    f"{o['tell_median_s'] * 1000:.0f} / {o['tell_p95_s'] * 1000:.0f}",
                    f"{o['slot_overhead_s']:.2f}" if "slot_overhead_s" in o else "-",
                    f"{100 * o['slot_overhead_s'] / 60:.1f}%" if "slot_overhead_s" in o else "-",
                ]
            )
        sleep = max(o["sleep_s"] for o in overhead.values())
        lines += [
            "",
            f"**Driver overhead with many Ray workers.** A stand-in estimator sleeps "
            f"{sleep:g} s per trial instead of training; the study is in a PostgreSQL server on "
            "this machine, the strategy TPE (constant liar) over the default space; a local Ray "
            "with one logical CPU per worker, each trial a task of 1 CPU; two trials per worker "
            "after an unmeasured warm-up of one. The first row: one process claiming and "
            "telling trial after trial with no sleep and nobody else (the second half of its "
            f"{overhead.get('alone', {}).get('trials', '?')} trials): a claim's cost on a "
            "core of its own. Claim: the worker's time to get its trial (under the study's "
            "lock: the dead-trial check, the budget count and the new trial; then, the lock let "
            "go, TPE's proposal and the trial's attributes), waiting for the lock and the CPU "
            "included; of which CPU: the worker's own processor time (what a claim costs on a "
            "core of its own); lock held: the part no other worker can claim meanwhile; tell: "
            "recording the result. Lost per trial: a worker "
            "slot's wall-clock time per trial beyond the "
            "sleep (`workers x wall / trials - sleep`), everything included.",
            "",
            markdown_table(
                [
                    "Ray workers",
                    "trials",
                    "claim ms (median / p95)",
                    "of which CPU ms (median)",
                    "lock held ms (median / p95)",
                    "tell ms (median / p95)",
                    "lost s per trial",
                    "of a 1-min trial",
                ],
                rows,
            ),
        ]
        lines += _overhead_verdict(overhead)
    return "\n".join(lines)


def _overhead_verdict(overhead: dict[str, Any]) -> list[str]:
    """The goal (proposals and database work under 5% of a one-minute trial at 64 workers),
    met or missed, with the measured reason."""
    counts = [int(k) for k in overhead if k != "alone"]
    if "alone" not in overhead or not counts:
        return []
    workers = max(counts)
    alone, most = overhead["alone"], overhead[str(workers)]
    own = alone["claim_median_s"] + alone["tell_median_s"]
    lost = most["slot_overhead_s"]
    return [
        "",
        f"Goal: proposals plus database work under 5% of a one-minute trial at 64 workers. "
        f"On a core of its own a claim and a tell take {own:.2f} s ({100 * own / 60:.1f}% of "
        f"a minute), {1000 * alone['claim_lock_median_s']:.0f} ms of it under the lock. With "
        f"{workers} workers on this 2-core machine, all claiming at once (every stand-in trial "
        f"lasts exactly {most['sleep_s']:g} s, so each round starts together), a slot loses "
        f"{lost:.1f} s per trial ({100 * lost / 60:.0f}%): **missed here**. The measured "
        f"reason is processor time: {workers} claims at once need {workers} x "
        f"{most['claim_cpu_median_s']:.2f} s of CPU (median; it grows with the trials running, "
        "since every Optuna read of the study loads each running trial's parameters, 88 per "
        "trial in the default space) on 2 cores, and the lock holder waits for the CPU among "
        "them (lock held "
        f"{1000 * most['claim_lock_median_s']:.0f} ms against "
        f"{1000 * alone['claim_lock_median_s']:.0f} ms alone). Trials of unequal length, or "
        "workers with cores of their own (a cluster), spread the claims; on one machine, 64 "
        "workers need more than 2 cores.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(default_data_root()))
    parser.add_argument("--stages", nargs="+", default=["workers", "overhead"])
    parser.add_argument("--redo", nargs="*", default=[])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=60.0)
    parser.add_argument("--ray-workers", type=int, nargs="+", default=[8, 32, 64])
    args = parser.parse_args()
    # Stopped (kill), it stops its servers on the way out: they would outlive it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    import torch

    results.update(machine=cpu_name(), torch=torch.__version__)

    def save() -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))

    if "workers" in args.stages and ("workers" not in results or "workers" in args.redo):
        results["workers"] = run_workers(args)
        results["workers_args"] = {"trials": args.trials, "steps": args.steps}
        save()
    if "overhead" in args.stages:
        previous = {} if "overhead" in args.redo else results.get("overhead", {})

        def save_rows(rows: dict[str, Any]) -> None:
            results["overhead"] = rows
            save()

        results["overhead"] = run_overhead(args, previous, save_rows)
        save()
    path = update_section(
        REPO / "BENCHMARKS.md", "parallel-search", "Parallel search", section(results)
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
