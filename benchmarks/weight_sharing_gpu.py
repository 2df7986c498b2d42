"""Weight sharing on a GPU: does the supernet rank architectures as stand-alone training does
once the stand-alone models are trained far longer than a CPU allows?

The CPU benchmark (``weight_sharing.py``) compares inherited scores with models trained 6
and 12 epochs, which are still learning fast. Here, on one CUDA GPU, the same 20
architectures (same seeds, same space, the demo's training settings) are trained from
scratch for ``--epochs`` epochs, scored on the dev set every 2 epochs, while supernets
(one per ``--distill`` weight: 0 is the plain sandwich rule, > 0 adds in-place distillation
from the largest subnet) train for ``--supernet-minutes``; all of them at once, one process
each. Then each supernet scores the 20 architectures with inherited weights, Kendall tau is
taken against every stand-alone checkpoint epoch, and subnet evaluations per GPU-hour are
timed on the dev subset.

The corpus is the demo's synthetic one. To travel to a GPU machine it is re-encoded as
Opus (``--make-corpus``: about 20 MB for the train and dev splits instead of 110 MB of FLAC);
both sides of the comparison use the same re-encoded audio.

    .venv/bin/python benchmarks/weight_sharing_gpu.py --make-corpus       # here, once
    python3 benchmarks/weight_sharing_gpu.py --results OUT.json [--epochs 40 ...]  # on the GPU
    .venv/bin/python benchmarks/weight_sharing_gpu.py --report OUT.json   # here: BENCHMARKS.md

Every job has its own minute budget and the whole run a deadline (``--deadline-minutes``):
what finished by then is scored and written.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import concurrent.futures as cf
import dataclasses
import functools
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import weight_sharing as ws  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from speechnas.arch import ArchSpec  # noqa: E402
from speechnas.data.manifest import read_manifest, write_manifest  # noqa: E402
from speechnas.demo import DemoSettings, demo_search_config  # noqa: E402
from speechnas.models import build_model  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402
from speechnas.supernet.scoring import ByDepth, SubnetScorer  # noqa: E402
from speechnas.text import build_tokenizer, normalize  # noqa: E402
from speechnas.train import TrainSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "runs" / "gpu_corpus"
OUT = REPO / "runs" / "benchmarks" / "weight_sharing_gpu"
FIGURE = REPO / "benchmarks" / "figures" / "weight_sharing_gpu.png"
RESULTS = REPO / "benchmarks" / "results" / "weight_sharing_gpu.json"
TITLE = "Weight sharing against longer stand-alone training (GPU)"
EVAL_EVERY = 2

log = logging.getLogger("weight_sharing_gpu")


def make_corpus(source: Path = ws.CORPUS, dest: Path = CORPUS) -> None:
    """The demo corpus's train and dev splits re-encoded as Opus, with repository-relative
    paths (run from the repository root)."""
    import soundfile as sf

    (dest / "audio").mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        utts = read_manifest(source / f"{split}.jsonl")
        moved = []
        for u in utts:
            path = dest / "audio" / f"{u.id}.ogg"
            if not path.is_file():
                wave, rate = sf.read(u.audio_path, dtype="float32")
                sf.write(path, wave, rate, format="OGG", subtype="OPUS")
            moved.append(dataclasses.replace(u, audio_path=str(path.relative_to(REPO))))
        write_manifest(moved, dest / f"{split}.jsonl")
    log.info("corpus: %s", dest)


def settings(device: str) -> TrainSettings:
    paths = {name: CORPUS / f"{name}.jsonl" for name in ("train", "dev", "test")}
    demo = demo_search_config(DemoSettings(), paths, OUT).train
    return dataclasses.replace(demo, threads=1, device=device)


def supernet_job(distill: float, minutes: float, device: str) -> dict[str, Any]:
    from speechnas.supernet.train import SupernetTrainConfig, train_supernet

    out = OUT / f"supernet-kd{distill:g}"
    config = SupernetTrainConfig(
        train_manifest=str(CORPUS / "train.jsonl"),
        space=ws.space(),
        settings=settings(device),
        out_dir=str(out),
        max_minutes=minutes,
        distill=distill,
        seed=0,
        checkpoint_minutes=1e9,
    )
    path = train_supernet(config)
    saved = torch.load(path, weights_only=False, map_location="cpu")
    return {
        "distill": distill,
        "path": str(path),
        "steps": saved["steps"],
        "seconds": saved["train_seconds"],
    }


def standalone_dir(arch_id: str, seed: int = 0) -> Path:
    return OUT / "standalone" / f"seed{seed}" / arch_id


def standalone_job(
    spec: dict[str, Any],
    epochs: int,
    minutes: float | None,
    device: str,
    seed: int = 0,
    eval_every: int = EVAL_EVERY,
) -> dict[str, Any]:
    from speechnas.train import train
    from speechnas.train.loop import resumable_checkpoint

    arch = ArchSpec.from_dict(spec)
    config = settings(device).train_config(
        train_manifest=str(CORPUS / "train.jsonl"),
        dev_manifest=str(CORPUS / "dev.jsonl"),
        out_dir=str(standalone_dir(arch.arch_id, seed)),
        arch=arch,
        max_epochs=epochs,
        max_minutes=minutes,
        eval_every=eval_every,
        seed=seed,
    )
    # A run of this config stopped before (a deadline, a command's time limit) continues.
    last = resumable_checkpoint(config)
    result = train(config, resume=last, overwrite=last is None, progress=False)
    return {**standalone_row(arch, seed), "train_seconds": result.train_seconds}


@functools.cache
def _vocab_size() -> int:
    texts = [normalize(u.text, u.language) for u in read_manifest(CORPUS / "train.jsonl")]
    return build_tokenizer("char", [t for t in texts if t]).vocab_size


def standalone_row(arch: ArchSpec, seed: int = 0) -> dict[str, Any]:
    """What a stand-alone run has written so far (its dev scores by epoch)."""
    out = standalone_dir(arch.arch_id, seed)
    history = []
    if (out / "history.jsonl").is_file():
        history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    scored = [h for h in history if "dev_wer" in h]
    return {
        "arch_id": arch.arch_id,
        "seed": seed,
        "params": build_model(arch, vocab_size=_vocab_size()).num_params(),
        "steps": history[-1]["step"] if history else 0,
        "train_seconds": history[-1]["train_seconds"] if history else 0.0,
        "history": [
            {"epoch": h["epoch"], "wer": h["dev_wer"], "cer": h["dev_cer"]} for h in scored
        ],
    }


def _init_worker() -> None:
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)


@dataclasses.dataclass(frozen=True)
class Job:
    """One process's work: ``fn(*args)`` returns a result row of ``kind``."""

    kind: str
    key: str
    fn: Callable[..., dict[str, Any]]
    args: tuple[Any, ...]


def run_jobs(jobs: list[Job], deadline_minutes: float) -> dict[str, list[dict[str, Any]]]:
    """Every job at once, one process each, until the deadline: the finished rows by kind
    (a job that failed or did not finish by then is logged and left out)."""
    context = multiprocessing.get_context("spawn")
    deadline = time.monotonic() + 60.0 * deadline_minutes
    done: dict[str, list[dict[str, Any]]] = {job.kind: [] for job in jobs}
    pool = cf.ProcessPoolExecutor(
        max_workers=max(1, len(jobs)), mp_context=context, initializer=_init_worker
    )
    try:
        futures = {pool.submit(job.fn, *job.args): job for job in jobs}
        try:
            for future in cf.as_completed(futures, timeout=deadline - time.monotonic()):
                job = futures[future]
                try:
                    row = future.result()
                except Exception as e:  # noqa: BLE001 - one failed job must not lose the rest
                    log.error("%s %s failed: %r", job.kind, job.key, e)
                    continue
                done[job.kind].append(row)
                log.info(
                    "%s %s done: %s",
                    job.kind,
                    job.key,
                    {k: v for k, v in row.items() if k not in ("history", "paths")},
                )
        except cf.TimeoutError:
            finished = sum(len(rows) for rows in done.values())
            log.error("deadline: %d of %d jobs finished", finished, len(futures))
            for process in list(pool._processes.values()):  # noqa: SLF001
                process.kill()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return done


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(
    scorer: Callable[[Path], SubnetScorer | ByDepth],
    drawn: list[ArchSpec],
    subset: Path,
    device: str,
) -> dict[str, Any]:
    """How fast ``scorer(subset)`` (set up included) scores the subnets ``drawn``, on the dev
    subset a search scores its trials on."""
    _sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    fast = scorer(subset)
    setup = time.perf_counter() - start
    for spec in drawn:
        fast(spec)
    _sync(device)
    wall = time.perf_counter() - start
    return {
        "evaluations": len(drawn),
        "utterances": fast.utterances,
        "setup_s": setup,
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu,
        "per_gpu_hour": len(drawn) * 3600.0 / wall,
    }


def inherited(
    path: str, specs: list[ArchSpec], subset: Path, evals: int, device: str
) -> dict[str, Any]:
    from speechnas.supernet.train import load_supernet

    net, tokenizer, _ = load_supernet(path)
    net.to(device)

    def scorer(manifest: Path) -> SubnetScorer:
        return SubnetScorer(net, tokenizer, read_manifest(manifest))

    dev = scorer(CORPUS / "dev.jsonl")
    drawn = ws.distinct_subnets(net.space, evals, seed=1)
    return {
        "scores": {s.arch_id: dev(s) for s in specs},
        "throughput": throughput(scorer, drawn, subset, device),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    specs = ws.ranking_specs(ws.space(), args.archs)
    started = time.perf_counter()
    jobs = [
        Job("supernet", f"distill {d:g}", supernet_job, (d, args.supernet_minutes, args.device))
        for d in args.distill
    ]
    if args.standalone_minutes > 0:
        jobs += [
            Job(
                "standalone",
                s.arch_id,
                standalone_job,
                (s.to_dict(), args.epochs, args.standalone_minutes, args.device),
            )
            for s in specs
        ]
    rows = run_jobs(jobs, args.deadline_minutes)
    supernets, finished = rows["supernet"], rows.get("standalone", [])
    trained = time.perf_counter() - started
    done = {row["arch_id"] for row in finished}
    # A run stopped by the deadline keeps what it scored before it.
    alone = finished + [standalone_row(s) for s in specs if s.arch_id not in done]
    subset = ws.dev_subset(CORPUS / "dev.jsonl", OUT)
    for net in supernets:
        net.update(inherited(net["path"], specs, subset, args.evals, args.device))
    return {
        "info": {
            "gpu": torch.cuda.get_device_name(0) if args.device != "cpu" else None,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cpus": os.cpu_count(),
            "epochs": args.epochs,
            "standalone_minutes": args.standalone_minutes,
            "supernet_minutes": args.supernet_minutes,
            "training_wall_s": trained,
            "train_utts": len(read_manifest(CORPUS / "train.jsonl")),
            "dev_utts": len(read_manifest(CORPUS / "dev.jsonl")),
        },
        "specs": [{"arch_id": s.arch_id, "summary": s.summary()} for s in specs],
        "supernets": supernets,
        "standalone": alone,
    }


# --- the report ---------------------------------------------------------------------------


def _score(row: dict[str, Any], epoch: float | None, metric: str) -> float:
    """A stand-alone run's dev score at ``epoch`` (``None``: its last scoring)."""
    if epoch is None:
        return float(row["history"][-1][metric])
    return float(next(h[metric] for h in row["history"] if h["epoch"] == epoch))


def _common_epochs(result: dict[str, Any]) -> list[int]:
    """Epochs at which every stand-alone run was scored."""
    sets = [
        {h["epoch"] for h in r["history"] if float(h["epoch"]).is_integer()}
        for r in result["standalone"]
    ]
    return sorted(int(e) for e in set.intersection(*sets))


def taus(
    result: dict[str, Any], scores: dict[str, dict[str, float]], metric: str, ids: list[str]
) -> dict[str, float]:
    """Kendall tau of ``scores`` against the stand-alone runs at each common epoch and last."""
    alone = {r["arch_id"]: r for r in result["standalone"]}
    a = [scores[i][metric] for i in ids]
    out = {}
    for epoch in [*_common_epochs(result), None]:
        b = [_score(alone[i], epoch, metric) for i in ids]
        out["last" if epoch is None else str(epoch)] = float(kendalltau(a, b).statistic)
    return out


def _cpu_scores(key: str) -> dict[str, dict[str, float]] | None:
    """Scores of the CPU benchmark's rows (``inherited``: its supernet; ``split``,
    ``split<steps>``: supernets by depth; ``standalone``: 6 epochs alone, ``seed1``: again
    with seed 1, ``seeds``: the mean over its seeds; ``longer``: 12), where it has run."""
    if not ws.RESULTS.is_file():
        return None
    rows = json.loads(ws.RESULTS.read_text())["ranking"]
    if f"{key}_wer" not in rows[0]:
        return None
    return {r["arch_id"]: {"wer": r[f"{key}_wer"], "cer": r[f"{key}_cer"]} for r in rows}


def _cpu_split_steps() -> list[int]:
    """The step budgets of the CPU benchmark's supernets by depth (``--split-steps``)."""
    if not ws.RESULTS.is_file():
        return []
    return [int(n) for n in json.loads(ws.RESULTS.read_text())["info"].get("split_steps", [])]


def _rankers(result: dict[str, Any]) -> list[tuple[str, dict[str, dict[str, float]]]]:
    alone = {r["arch_id"]: r for r in result["standalone"]}
    last = {i: {m: _score(r, None, m) for m in ("wer", "cer")} for i, r in alone.items()}
    rankers = [("stand-alone, last scoring (itself)", last)]
    for net in result["supernets"]:
        kind = "sandwich" if not net["distill"] else f"sandwich + distillation {net['distill']:g}"
        rankers.append((f"supernet, GPU, {kind}, {net['steps']} steps", net["scores"]))
    for key, name in (
        ("inherited", "supernet, CPU benchmark above (sandwich)"),
        ("split", "supernets by depth, CPU benchmark above (split_depth)"),
        *(
            (f"split{n}", f"supernets by depth, CPU benchmark above, {n} steps each")
            for n in _cpu_split_steps()
        ),
        ("standalone", "stand-alone, CPU benchmark above, 6 epochs"),
        ("seed1", "stand-alone, CPU benchmark above, 6 epochs, seed 1"),
        ("seeds", "stand-alone, CPU benchmark above, 6 epochs, mean over its seeds"),
        ("longer", "stand-alone, CPU benchmark above, 12 epochs"),
    ):
        scores = _cpu_scores(key)
        if scores is not None and set(scores) >= set(alone):
            rankers.append((name, scores))
    return rankers


def plot(result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = [r["arch_id"] for r in result["standalone"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
    for ax, metric in zip(axes, ("cer", "wer"), strict=True):
        for name, scores in _rankers(result):
            t = taus(result, scores, metric, ids)
            epochs = [int(e) for e in t if e != "last"]
            ax.plot(epochs, [t[str(e)] for e in epochs], marker="o", ms=3, label=name)
        ax.axhline(0.8, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("stand-alone training epochs")
        ax.set_title(f"Kendall tau of the dev {metric.upper()} order")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("tau against stand-alone at that epoch")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(FIGURE, dpi=120)
    plt.close(fig)


def _reading(result: dict[str, Any]) -> str:
    """The table's point, in numbers."""
    ids = [r["arch_id"] for r in result["standalone"]]
    rankers = _rankers(result)
    itself = taus(result, rankers[0][1], "cer", ids)
    best = max(
        (taus(result, scores, m, ids)["last"], name, m)
        for name, scores in rankers
        if name.startswith("supernet")
        for m in ("wer", "cer")
    )
    depth = {sp["arch_id"]: _depth(sp["summary"]) for sp in result["specs"]}
    depths = sorted(set(depth.values()))
    name, plain = rankers[1]
    within = [
        taus(result, plain, "cer", [i for i in ids if depth[i] == d])["last"] for d in depths
    ]

    def mean_cer(scores: dict[str, dict[str, float]], d: int) -> str:
        group = [scores[i]["cer"] for i in ids if depth[i] == d]
        return f"{100 * sum(group) / len(group):.1f}%"

    return (
        f"Reading: the stand-alone order settles (CER tau against the last scoring "
        f"{itself['12']:.2f} at 12 epochs, {itself['20']:.2f} at 20), so the reference is not "
        f"what fails. The best tau of a supernet against the last scoring is {best[0]:.2f} "
        f"({best[1]}, {best[2].upper()}); the goal is 0.8. Within one depth, the {name} orders "
        + ", ".join(f"{d} layers {t:.2f}" for d, t in zip(depths, within, strict=True))
        + f" (CER, last), against {taus(result, plain, 'cer', ids)['last']:.2f} across depths. "
        "Mean dev CER by depth, inherited: "
        + ", ".join(f"{d} layers {mean_cer(plain, d)}" for d in depths)
        + "; stand-alone, last: "
        + ", ".join(f"{d} layers {mean_cer(rankers[0][1], d)}" for d in depths)
        + "."
    )


def _depth(summary: str) -> int:
    """Layers of an architecture from its summary (``conformer x3 w64-128 ...``)."""
    return int(summary.split()[1].lstrip("x"))


def section(result: dict[str, Any]) -> str:
    info = result["info"]
    alone = {r["arch_id"]: r for r in result["standalone"]}
    ids = list(alone)
    epochs = [r["history"][-1]["epoch"] for r in alone.values()]
    steps = [r["steps"] for r in alone.values()]
    common = _common_epochs(result)
    shown = [e for e in common if e in (6, 12, 16, 20) or e == common[-1]]
    header = ["ranker", *[f"{e} ep" for e in shown], "last"]
    rows = []
    for metric in ("wer", "cer"):
        for name, scores in _rankers(result):
            t = taus(result, scores, metric, ids)
            rows.append(
                [
                    f"{name}: {metric.upper()}",
                    *[f"{t[str(e)]:.2f}" for e in shown],
                    f"{t['last']:.2f}",
                ]
            )
    depth = {s["arch_id"]: _depth(s["summary"]) for s in result["specs"]}
    depths = sorted(set(depth.values()))
    by_depth = []
    for name, scores in _rankers(result)[1:]:
        cells = [name]
        for d in depths:
            group = [i for i in ids if depth[i] == d]
            cells.append(f"{taus(result, scores, 'cer', group)['last']:.2f} ({len(group)})")
        by_depth.append(cells)
    supernets = "; ".join(
        f"distillation {n['distill']:g}: {n['steps']} steps in {n['seconds'] / 60:.1f} min, "
        f"{n['throughput']['per_gpu_hour']:,.0f} subnet evaluations per GPU-hour "
        f"({n['throughput']['evaluations']} subnets on the {n['throughput']['utterances']}-"
        "utterance dev subset)"
        for n in result["supernets"]
    )
    lines = [
        f"Measured on an {info['gpu']} (torch {info['torch']}, CUDA {info['cuda']}, "
        f"{info['cpus']} CPU cores). The stand-alone models of the section above trained much "
        "longer: the same 20 architectures, seeds and training settings, each from scratch for "
        f"{info['standalone_minutes']:g} min of training time, all 20 at once on the one GPU "
        f"(one process each, with the supernets): {min(epochs):.1f}-{max(epochs):.1f} epochs "
        f"({min(steps)}-{max(steps)} steps; the deeper models got fewer, since processes "
        "share the GPU), dev WER/CER every 2 epochs. The audio is the demo corpus re-encoded "
        "as Opus to travel to the GPU machine (`--make-corpus`), for both sides. Supernets "
        "trained alone on the GPU with the sandwich rule (largest, smallest and 2 random "
        f"subnets per step), with and without in-place distillation: {supernets}.",
        "",
        "**Kendall tau against the stand-alone order at each epoch** (20 architectures; goal "
        '0.8). The rows "stand-alone (itself)" measure the reference: how well the order '
        "at that epoch predicts the last one. The CPU supernet's inherited scores are on the "
        "FLAC dev set, the rest on its Opus copy.",
        "",
        _reading(result),
        "",
        markdown_table(header, rows),
        "",
        "![tau against stand-alone training length](benchmarks/figures/weight_sharing_gpu.png)",
        "",
        "**Within one depth** (CER, last scoring; architectures per group in brackets):",
        "",
        markdown_table(["ranker", *[f"{d} layers" for d in depths]], by_depth),
        "",
        "Reproduce, on a CUDA machine after `.venv/bin/python "
        "benchmarks/weight_sharing_gpu.py --make-corpus` here: `python3 "
        "benchmarks/weight_sharing_gpu.py --results all.json --epochs "
        f"{info['epochs']} --standalone-minutes {info['standalone_minutes']:g} "
        f"--supernet-minutes {info['supernet_minutes']:g} --deadline-minutes 6 --evals 500`, "
        "then the supernets alone: "
        "`python3 benchmarks/weight_sharing_gpu.py --results supernets.json "
        "--standalone-minutes 0 --supernet-minutes 3.2 --evals 300`; back here: "
        "`.venv/bin/python benchmarks/weight_sharing_gpu.py --report all.json supernets.json`.",
    ]
    return "\n".join(lines)


def load_results(paths: list[Path], keep: Path) -> dict[str, Any]:
    """A run's results, with the supernets of a second, supernets-only run where one is
    given (``supernets``; its settings as ``supernets_info``); kept as ``keep``."""
    result: dict[str, Any] = json.loads(paths[0].read_text())
    if len(paths) > 1:  # supernets trained alone, in a second run
        alone = json.loads(paths[1].read_text())
        result["supernets"] = alone["supernets"]
        result["supernets_info"] = alone["info"]
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_text(json.dumps(result, indent=2))
    return result


def run_and_save(run: Callable[[argparse.Namespace], dict[str, Any]], args: Any) -> None:
    """``run(args)`` on the GPU, its results written to ``args.results``."""
    if args.device != "cpu" and not torch.cuda.is_available():
        sys.exit("no CUDA GPU: this benchmark runs on one (see its docstring)")
    result = run(args)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2))
    log.info("results: %s", args.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-corpus", action="store_true")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        metavar="RESULTS",
        help="write BENCHMARKS.md from a run's results (and, second, a supernets-only run's)",
    )
    parser.add_argument("--results", type=Path, default=OUT / "results.json")
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--standalone-minutes", type=float, default=4.0, help="0: train the supernets alone"
    )
    parser.add_argument("--supernet-minutes", type=float, default=4.0)
    parser.add_argument("--distill", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--evals", type=int, default=1000)
    parser.add_argument("--deadline-minutes", type=float, default=5.5)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the pipeline")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.make_corpus:
        make_corpus()
        return
    if args.report:
        result = load_results(args.report, RESULTS)
        plot(result)
        update_section(REPO / "BENCHMARKS.md", "weight_sharing_gpu", TITLE, section(result))
        print(section(result))
        return
    run_and_save(run, args)


if __name__ == "__main__":
    main()
