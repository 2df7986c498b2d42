"""Weight sharing against an annealed stand-alone reference with several seeds (GPU): how
well can a supernet rank architectures once the reference is as steady as it gets?

The two earlier weight-sharing sections leave the reference in doubt. On the CPU, two seeds
of 6-epoch training agree only to CER tau 0.58. On the GPU each model was trained once, for
a time budget, and stopped while its learning rate was still high (the schedule spanned 60
epochs). Here, on one CUDA GPU, the same 20 architectures are trained from scratch with
``--seeds`` seeds for ``--epochs`` epochs each, the whole warm-up and cosine schedule run to
its end; beside them, supernets by depth (the supernet strategy's default, ``split_depth``)
train for ``--depth-steps`` steps each with their own cosine schedule, ``--depth-seeds``
seeds; all at once, one process each. Then the report gives how the reference's seeds agree
with each other and with the mean of the others (what no ranker can be expected to beat),
and Kendall tau of every ranker against each seed and against the mean over the seeds.

Beside 60 stand-alone processes on 16 CPU cores the supernets (4 subnets a step) may not
reach their budget by the deadline; train them in a second run, alone (``--seeds 0``), and
give both result files to ``--report`` (the section's "Reproduce" line has the commands).
A run stopped by its deadline or a time limit loses little: run the same command again in the
same folder and the stand-alone trainings continue from their last epoch (``last.pt``), the
supernets from their last minute, and finished ones are kept; longer references than one
command's time allows can be trained this way.

    .venv/bin/python benchmarks/weight_sharing_gpu.py --make-corpus        # here, once
    python3 benchmarks/weight_sharing_seeds.py --results OUT.json [...]    # on the GPU
    .venv/bin/python benchmarks/weight_sharing_seeds.py --report OUT.json  # here
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import itertools
import json
import logging
import os
import sys
import time
from pathlib import Path
from statistics import mean
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import weight_sharing as ws  # noqa: E402
import weight_sharing_gpu as gpu  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from speechnas.arch import ArchSpec  # noqa: E402
from speechnas.data.manifest import read_manifest  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402

RESULTS = gpu.REPO / "benchmarks" / "results" / "weight_sharing_seeds.json"
FIGURE = gpu.REPO / "benchmarks" / "figures" / "weight_sharing_seeds.png"
TITLE = "Weight sharing against an annealed reference with three seeds (GPU)"

log = logging.getLogger("weight_sharing_seeds")

Scores = dict[str, dict[str, float]]  # arch id -> {"wer": ..., "cer": ...}
METRICS = ("wer", "cer")


def depth_supernet_job(
    depth: int, seed: int, steps: int, minutes: float, device: str, nice: int
) -> dict[str, Any]:
    """The supernet of one depth of the space, trained for ``steps`` (cosine over them)."""
    from speechnas.supernet.train import SupernetTrainConfig, train_supernet

    os.nice(nice)  # the stand-alone reference comes first where CPUs are short
    out = gpu.OUT / f"supernet-by-depth-seed{seed}" / f"depth{depth}"
    # Trained before: kept. Stopped before: continued from its last minute's partial file.
    path = out / "supernet.pt"
    if not path.is_file():
        path = train_supernet(
            SupernetTrainConfig(
                train_manifest=str(gpu.CORPUS / "train.jsonl"),
                space=ws.space().at_depth(depth),
                settings=gpu.settings(device),
                out_dir=str(out),
                max_steps=steps,
                max_minutes=minutes,
                seed=seed,
                checkpoint_minutes=1.0,
            )
        )
    saved = torch.load(path, weights_only=False, map_location="cpu")
    return {
        "depth": depth,
        "seed": seed,
        "path": str(path),
        "steps": saved["steps"],
        "seconds": saved["train_seconds"],
    }


def by_depth(
    nets: list[dict[str, Any]], specs: list[ArchSpec], evals: int, device: str
) -> dict[str, Any]:
    """Dev scores of ``specs`` on one seed's supernets by depth, and the throughput of
    scoring ``evals`` random subnets on the dev subset a search scores on."""
    from speechnas.supernet.scoring import ByDepth, SubnetScorer
    from speechnas.supernet.train import load_supernet

    full = ws.space()
    loaded = {}
    for row in nets:
        net, tokenizer, _ = load_supernet(row["path"])
        loaded[row["depth"]] = (net.to(device), tokenizer)

    def scorer(manifest: Path) -> ByDepth:
        utts = read_manifest(manifest)
        return ByDepth(full, {d: SubnetScorer(n, t, utts) for d, (n, t) in loaded.items()})

    dev = scorer(gpu.CORPUS / "dev.jsonl")
    subset = ws.dev_subset(gpu.CORPUS / "dev.jsonl", gpu.OUT)
    drawn = ws.distinct_subnets(full, evals, seed=1)
    return {
        "scores": {s.arch_id: dev(s) for s in specs},
        "throughput": gpu.throughput(scorer, drawn, subset, device),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    gpu.OUT.mkdir(parents=True, exist_ok=True)
    full = ws.space()
    specs = ws.ranking_specs(full, args.archs)
    depths = list(range(full.min_layers, full.max_layers + 1))
    jobs = [
        gpu.Job(
            "standalone",
            f"{s.arch_id} seed {seed}",
            gpu.standalone_job,
            (s.to_dict(), args.epochs, None, args.device, seed, args.eval_every),
        )
        for seed in range(args.seeds)
        for s in specs
    ]
    jobs += [
        gpu.Job(
            "supernet",
            f"depth {depth} seed {seed}",
            depth_supernet_job,
            (depth, seed, args.depth_steps, args.depth_minutes, args.device, args.nice),
        )
        for seed in range(args.depth_seeds)
        for depth in depths
    ]
    started = time.perf_counter()
    rows = gpu.run_jobs(jobs, args.deadline_minutes)
    trained = time.perf_counter() - started
    # A run stopped by the deadline keeps what it scored before it.
    alone = [gpu.standalone_row(s, seed) for seed in range(args.seeds) for s in specs]
    supernets = []
    for seed in range(args.depth_seeds):
        nets = [r for r in rows.get("supernet", []) if r["seed"] == seed]
        if len(nets) < len(depths):
            log.error(
                "supernets by depth, seed %d: %d of %d trained", seed, len(nets), len(depths)
            )
            continue
        supernets.append(
            {
                "seed": seed,
                "steps": {str(r["depth"]): r["steps"] for r in nets},
                "seconds": {str(r["depth"]): r["seconds"] for r in nets},
                **by_depth(nets, specs, args.evals, args.device),
            }
        )
    return {
        "info": {
            "gpu": torch.cuda.get_device_name(0) if args.device != "cpu" else None,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cpus": os.cpu_count(),
            "epochs": args.epochs,
            "seeds": args.seeds,
            "eval_every": args.eval_every,
            "depth_seeds": args.depth_seeds,
            "depth_steps": args.depth_steps,
            "depth_minutes": args.depth_minutes,
            "deadline_minutes": args.deadline_minutes,
            "training_wall_s": trained,
            "train_utts": len(read_manifest(gpu.CORPUS / "train.jsonl")),
            "dev_utts": len(read_manifest(gpu.CORPUS / "dev.jsonl")),
        },
        "specs": [{"arch_id": s.arch_id, "summary": s.summary()} for s in specs],
        "standalone": alone,
        "supernets": supernets,
    }


# --- the report ---------------------------------------------------------------------------


def references(result: dict[str, Any]) -> dict[int, Scores]:
    """Each seed's stand-alone dev scores at the end of its schedule (seeds whose every run
    reached it)."""
    epochs = result["info"]["epochs"]
    out: dict[int, Scores] = {}
    for seed in range(result["info"]["seeds"]):
        rows = [r for r in result["standalone"] if r["seed"] == seed]
        ended = [r for r in rows if r["history"] and r["history"][-1]["epoch"] >= epochs]
        if rows and len(ended) == len(rows):
            out[seed] = {r["arch_id"]: {m: r["history"][-1][m] for m in METRICS} for r in rows}
        else:
            log.warning(
                "seed %d: %d of %d runs reached epoch %d", seed, len(ended), len(rows), epochs
            )
    return out


def mean_scores(many: list[Scores]) -> Scores:
    return {i: {m: mean(s[i][m] for s in many) for m in METRICS} for i in many[0]}


def tau(a: Scores, b: Scores, metric: str, ids: list[str]) -> float:
    return float(kendalltau([a[i][metric] for i in ids], [b[i][metric] for i in ids]).statistic)


def rankers(result: dict[str, Any]) -> list[tuple[str, Scores]]:
    """Every ranker with scores on all 20 architectures: this run's supernets by depth (each
    seed and their mean), the GPU benchmark's and the CPU benchmark's rows."""
    nets = result["supernets"]
    out = [(f"supernets by depth, GPU, {_steps(n)}, seed {n['seed']}", n["scores"]) for n in nets]
    if len(nets) > 1:
        out.append(
            (
                f"supernets by depth, GPU, mean of the {len(nets)} seeds' scores",
                mean_scores([n["scores"] for n in nets]),
            )
        )
    if gpu.RESULTS.is_file():
        earlier = json.loads(gpu.RESULTS.read_text())
        out += [(_label(n), s) for n, s in gpu._rankers(earlier)]  # noqa: SLF001
    ids = {s["arch_id"] for s in result["specs"]}
    out = [(name, scores) for name, scores in out if set(scores) >= ids]
    placed = [
        (f"{name}, placed by one 6-epoch model per depth", anchored(scores, result))
        for name, scores in out
        if "supernets by depth" in name
    ]
    return out + [(name, scores) for name, scores in placed if scores is not None]


def anchored(scores: Scores, result: dict[str, Any]) -> Scores | None:
    """``scores`` shifted by depth so that the largest architecture of each depth scores as it
    did trained alone for 6 epochs in the CPU section (seed 0): the supernets by depth order
    the architectures of one depth, one short stand-alone training per depth places the
    depths against each other. ``None`` where the CPU section has not run."""
    alone = gpu._cpu_scores("standalone")  # noqa: SLF001
    if alone is None:
        return None
    params = {r["arch_id"]: r["params"] for r in result["standalone"]}
    depth = _depth(result)
    out: Scores = {}
    for d in set(depth.values()):
        group = [i for i in depth if depth[i] == d]
        anchor = max(group, key=lambda i: params[i])
        shift = {m: alone[anchor][m] - scores[anchor][m] for m in METRICS}
        out.update({i: {m: scores[i][m] + shift[m] for m in METRICS} for i in group})
    return out


def _steps(net: dict[str, Any]) -> str:
    """``800 steps each``, or each depth's where they differ (a time cap stopped one)."""
    steps = net["steps"]
    if len(set(steps.values())) == 1:
        return f"{next(iter(steps.values()))} steps each"
    return f"{'/'.join(map(str, steps.values()))} steps at depths {'/'.join(steps)}"


def _label(name: str) -> str:
    """A ranker of the GPU section (``weight_sharing_gpu.py``), named as in this one."""
    name = name.replace(
        "stand-alone, last scoring (itself)",
        "stand-alone, GPU section, 22-30 epochs (stopped by time, rate still high)",
    )
    name = name.replace("supernet, GPU,", "supernet, GPU section,")
    return name.replace("CPU benchmark above", "CPU section")


def _depth(result: dict[str, Any]) -> dict[str, int]:
    return {s["arch_id"]: gpu._depth(s["summary"]) for s in result["specs"]}  # noqa: SLF001


def the_others(refs: dict[int, Scores]) -> dict[int, Scores]:
    """For each seed, the mean scores of the other seeds."""
    return {s: mean_scores([refs[o] for o in refs if o != s]) for s in refs}


def ceiling(refs: dict[int, Scores], metric: str, ids: list[str]) -> tuple[float, float]:
    """Mean tau between two seeds, and of one seed against the mean of the others."""
    pairs = [tau(refs[a], refs[b], metric, ids) for a, b in itertools.combinations(refs, 2)]
    rest = the_others(refs)
    return mean(pairs), mean(tau(refs[s], rest[s], metric, ids) for s in refs)


def _reading(result: dict[str, Any], refs: dict[int, Scores]) -> str:
    """The table's point, in numbers."""
    ids = [s["arch_id"] for s in result["specs"]]
    reference = mean_scores(list(refs.values()))
    pair = {m: ceiling(refs, m, ids) for m in METRICS}
    rest = the_others(refs)
    each = [tau(refs[s], rest[s], m, ids) for s in refs for m in METRICS]
    everyone = rankers(result)

    def best(rows: list[tuple[str, Scores]], metric: str) -> str:
        name, scores = max(rows, key=lambda r: tau(r[1], reference, metric, ids))
        return f"{metric.upper()} {tau(scores, reference, metric, ids):.2f} ({name})"

    shared = [r for r in everyone if r[0].startswith("supernet") and "placed by" not in r[0]]
    placed = [r for r in everyone if "placed by" in r[0]]
    alone = [r for r in everyone if r[0].startswith("stand-alone")]
    depth = _depth(result)

    def by_depth(scores: Scores) -> str:
        return ", ".join(
            f"{d} layers {100 * mean(scores[i]['cer'] for i in ids if depth[i] == d):.1f}%"
            for d in sorted(set(depth.values()))
        )

    nets = result["supernets"]
    inherited = (
        "; inherited, supernets by depth, GPU: "
        + by_depth(mean_scores([n["scores"] for n in nets]))
        if nets
        else ""
    )
    others = len(refs) - 1
    return (
        f"Reading: at this training length the reference does not reach 0.8 against itself. "
        f"One seed agrees with the mean of the other {others} to WER tau {pair['wer'][1]:.2f} "
        f"and CER {pair['cer'][1]:.2f} on average ({min(each):.2f} to {max(each):.2f} over "
        f"the seeds and both metrics), with one other seed to {pair['wer'][0]:.2f} and "
        f"{pair['cer'][0]:.2f}. The best weight-sharing ranker against the mean of the seeds: "
        + "; ".join(best(shared, m) for m in METRICS)
        + ". Placed by one short stand-alone training per depth: "
        + "; ".join(best(placed, m) for m in METRICS)
        + f". The best stand-alone ranker: {best(alone, 'cer')}. Mean dev CER by depth, "
        f"stand-alone: {by_depth(reference)}{inherited}."
    )


def plot(result: dict[str, Any], refs: dict[int, Scores]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = result["supernets"]
    if not nets:
        return
    ranker = mean_scores([n["scores"] for n in nets])
    reference = mean_scores(list(refs.values()))
    depth = _depth(result)
    ids = list(reference)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, metric in zip(axes, METRICS, strict=True):
        for d in sorted(set(depth.values())):
            group = [i for i in ids if depth[i] == d]
            ax.scatter(
                [100 * reference[i][metric] for i in group],
                [100 * ranker[i][metric] for i in group],
                label=f"{d} layers",
            )
        ax.set_xlabel(f"stand-alone dev {metric.upper()} %, mean of {len(refs)} seeds")
        ax.set_ylabel(f"inherited dev {metric.upper()} %, supernets by depth")
        ax.set_title(f"{metric.upper()}: tau {tau(ranker, reference, metric, ids):.2f}")
        ax.grid(alpha=0.3)
    axes[0].legend()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=120)
    plt.close(fig)


def section(result: dict[str, Any]) -> str:
    info = result["info"]
    refs = references(result)
    if len(refs) < 2:
        return "Fewer than two seeds of the stand-alone reference finished; nothing to report."
    ids = [s["arch_id"] for s in result["specs"]]
    reference = mean_scores(list(refs.values()))
    steps = sorted({r["steps"] for r in result["standalone"]})
    final = {m: [100 * reference[i][m] for i in ids] for m in METRICS}
    seeds = len(refs)
    rest = the_others(refs)
    head = [
        "ranker",
        f"mean of {seeds} seeds WER",
        "CER",
        f"mean of {seeds - 1} seeds WER",
        "CER",
        "one seed WER",
        "CER",
    ]
    pair = {m: ceiling(refs, m, ids) for m in METRICS}
    body = [
        [
            "the reference: one seed against the others",
            "-",
            "-",
            *[f"{pair[m][1]:.2f}" for m in METRICS],
            *[f"{pair[m][0]:.2f}" for m in METRICS],
        ]
    ]
    for name, scores in rankers(result):
        cells = [name, *[f"{tau(scores, reference, m, ids):.2f}" for m in METRICS]]
        for group in (rest, refs):
            for m in METRICS:
                each = [tau(scores, group[s], m, ids) for s in refs]
                cells.append(f"{mean(each):.2f} ({min(each):.2f} to {max(each):.2f})")
        body.append(cells)
    depth = _depth(result)
    depths = sorted(set(depth.values()))
    within = []
    for name, scores in rankers(result):
        if "placed by" in name:  # one shift per depth: the same order within it
            continue
        cells = [name]
        for d in depths:
            members = [i for i in ids if depth[i] == d]
            cells.append(f"{tau(scores, reference, 'cer', members):.2f} ({len(members)})")
        within.append(cells)
    lines = [
        f"Measured on an {info['gpu']} (torch {info['torch']}, CUDA {info['cuda']}, "
        f"{info['cpus']} CPU cores). The 20 architectures of the sections above, each trained "
        f"from scratch with {seeds} seeds for {info['epochs']} epochs "
        f"({'-'.join(str(n) for n in steps)} steps), the warm-up and cosine schedule run to its "
        "end; the demo's training settings otherwise. Dev WER/CER are those at the end. All "
        f"{len(result['standalone'])} trainings ran at once, one process each, in "
        f"{info['training_wall_s'] / 60:.1f} min. {_supernet_text(result)} Audio: the demo "
        "corpus re-encoded as Opus (`weight_sharing_gpu.py --make-corpus`); the CPU rows "
        "scored on its FLAC original.",
        "",
        f"Mean stand-alone dev WER {mean(final['wer']):.1f}% ({min(final['wer']):.1f}-"
        f"{max(final['wer']):.1f}%), CER {mean(final['cer']):.1f}% ({min(final['cer']):.1f}-"
        f"{max(final['cer']):.1f}%), mean of the seeds.",
        "",
        "**Kendall tau against the reference** (20 architectures; goal 0.8). Columns: against "
        f"the mean of all {seeds} seeds; against the mean of {seeds - 1}, and against one seed "
        "(mean over the choices, range in brackets). The first row is the reference against "
        f"itself: one seed against the mean of the other {seeds - 1}, and against one other; "
        "a ranker in the same columns is compared on equal terms.",
        "",
        markdown_table(head, body),
        "",
        _reading(result, refs),
        "",
        "![inherited against stand-alone dev scores](benchmarks/figures/weight_sharing_seeds.png)",
        "",
        f"**Within one depth** (CER against the mean of {seeds} seeds; architectures per group "
        "in brackets):",
        "",
        markdown_table(["ranker", *[f"{d} layers" for d in depths]], within),
        "",
        _reproduce(result),
    ]
    plot(result, refs)
    return "\n".join(lines)


def _supernet_text(result: dict[str, Any]) -> str:
    """How the supernets by depth of this section trained."""
    info, nets = result["info"], result["supernets"]
    if not nets:
        return ""
    where = (
        "afterwards, alone on the GPU (those trained beside the stand-alone runs, at a lower "
        "CPU priority, had not finished by the deadline)"
        if "supernets_info" in result
        else "beside them"
    )
    done = "; ".join(
        f"seed {net['seed']}: "
        + ", ".join(
            f"depth {d} {s} steps in {net['seconds'][d] / 60:.1f} min"
            for d, s in net["steps"].items()
        )
        + f"; {net['throughput']['per_gpu_hour']:,.0f} subnet evaluations per GPU-hour "
        f"({net['throughput']['evaluations']} subnets on the "
        f"{net['throughput']['utterances']}-utterance dev subset)"
        for net in nets
    )
    budget = result.get("supernets_info", info)
    return (
        f"Supernets by depth (`split_depth`) trained {where}: {budget['depth_steps']} steps "
        f"each with a cosine schedule over them, at most {budget['depth_minutes']:g} min; "
        f"{done}."
    )


def _reproduce(result: dict[str, Any]) -> str:
    info = result["info"]
    first = (
        "python3 benchmarks/weight_sharing_seeds.py --results seeds.json "
        f"--seeds {info['seeds']} --epochs {info['epochs']} --eval-every {info['eval_every']} "
        f"--depth-seeds {info['depth_seeds']} --depth-steps {info['depth_steps']} "
        f"--depth-minutes {info['depth_minutes']:g} --deadline-minutes "
        f"{info['deadline_minutes']:g}"
    )
    files = "seeds.json"
    second = ""
    if "supernets_info" in result:
        alone = result["supernets_info"]
        second = (
            ", then the supernets alone: `python3 benchmarks/weight_sharing_seeds.py "
            f"--results supernets.json --seeds 0 --depth-seeds {alone['depth_seeds']} "
            f"--depth-steps {alone['depth_steps']} --depth-minutes {alone['depth_minutes']:g} "
            f"--nice 0 --deadline-minutes {alone['deadline_minutes']:g}`"
        )
        files = "seeds.json supernets.json"
    return (
        "Reproduce, on a CUDA machine after `.venv/bin/python benchmarks/weight_sharing_gpu.py "
        f"--make-corpus` here: `{first}`{second}; back here: `.venv/bin/python "
        f"benchmarks/weight_sharing_seeds.py --report {files}`."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        metavar="RESULTS",
        help="write BENCHMARKS.md from a run's results (and, second, a supernets-only run's)",
    )
    parser.add_argument("--results", type=Path, default=gpu.OUT / "seeds.json")
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--depth-seeds", type=int, default=1)
    parser.add_argument("--depth-steps", type=int, default=1000)
    parser.add_argument("--depth-minutes", type=float, default=6.0)
    parser.add_argument("--nice", type=int, default=0, help="of the supernet processes")
    parser.add_argument("--evals", type=int, default=300)
    parser.add_argument("--deadline-minutes", type=float, default=7.5)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the pipeline")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.report:
        result = gpu.load_results(args.report, RESULTS)
        text = section(result)
        update_section(gpu.REPO / "BENCHMARKS.md", "weight_sharing_seeds", TITLE, text)
        print(text)
        return
    gpu.run_and_save(run, args)


if __name__ == "__main__":
    main()
