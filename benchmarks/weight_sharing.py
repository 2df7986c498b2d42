"""Weight sharing on the default task: how well inherited weights rank, and how fast.

Runs, from the repository root (nothing else heavy meanwhile: throughput is timed):

    .venv/bin/python benchmarks/weight_sharing.py [--supernet-minutes 20] [--archs 20]
        [--epochs 6] [--more-epochs 6] [--split-minutes 21] [--seeds 3] [--evals 200]
        [--report-only]

On the demo's synthetic corpus (``runs/demo/corpus``, synthesised as ``make demo`` does if
absent), over the Conformer part of the demo's space (2-4 layers; per layer width 64/96/128,
kernel 5/11/15, 2/4 heads, FFN x2/3/4; the demo's training settings):

1. A supernet trained with the sandwich rule for ``--supernet-minutes`` minutes.
2. Throughput: ``--evals`` distinct random subnets scored with inherited weights on the
   demo's dev subset (the 120 utterances a search scores trials on), at 1 and 2 threads;
   evaluations per CPU-hour count process CPU time (all threads), per wall hour the clock.
3. Ranking: ``--archs`` subnets (the largest, the smallest and distinct random draws, seeded)
   scored on the whole dev set with inherited weights, and each trained from scratch for
   ``--epochs`` epochs with the same settings and scored on the same dev set; Kendall tau
   between the two orders, on WER and on CER. ``--more-epochs``: a second, longer reference;
   ``--split-minutes``: also one supernet per depth; ``--seeds``: each stand-alone training
   with that many seeds, whose agreement with one another is the reference's own noise.

Every stage is cached under ``runs/benchmarks/weight_sharing/`` (a rerun continues); the
section "Weight sharing" of BENCHMARKS.md and ``benchmarks/results/weight_sharing.json`` are
written at the end.
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import dataclasses
import itertools
import json
import logging
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from speechnas._provenance import cpu_name
from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.demo import DEMO_SPACE, DemoSettings, demo_search_config
from speechnas.evaluate.runner import evaluate_model
from speechnas.reports import markdown_table, update_section
from speechnas.supernet import SupernetSpace
from speechnas.supernet.scoring import ByDepth, SubnetScorer
from speechnas.supernet.train import SupernetTrainConfig, load_supernet, train_supernet
from speechnas.synth import synthesize_corpus
from speechnas.timing import threads
from speechnas.train import load_model, train

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "benchmarks" / "weight_sharing"
CORPUS = REPO / "runs" / "demo" / "corpus"
RESULTS = REPO / "benchmarks" / "results" / "weight_sharing.json"
FIGURE = REPO / "benchmarks" / "figures" / "weight_sharing.png"
THREADS = 2
DEV_SUBSET = 120

log = logging.getLogger("weight_sharing")


def space() -> SupernetSpace:
    """The Conformer part of the demo's space (80 mel bins) as a supernet space."""
    return SupernetSpace.from_speech_space(
        dataclasses.replace(DEMO_SPACE, encoders=("conformer",), n_mels=(80,))
    )


def manifests() -> dict[str, Path]:
    if not (CORPUS / "train.jsonl").is_file():
        synthesize_corpus(CORPUS, hours=DemoSettings().hours, seed=DemoSettings().seed)
    return {name: CORPUS / f"{name}.jsonl" for name in ("train", "dev", "test")}


def dev_subset(dev: Path, out: Path = OUT) -> Path:
    """The seeded dev sample a demo search scores its trials on (written into ``out``)."""
    utts = read_manifest(dev)
    chosen = sorted(random.Random(0).sample(range(len(utts)), min(DEV_SUBSET, len(utts))))
    return write_manifest([utts[i] for i in chosen], out / "dev_subset.jsonl")


def supernet(paths: dict[str, Path], minutes: float) -> Path:
    path = OUT / "supernet" / "supernet.pt"
    if path.is_file():
        return path
    settings = demo_search_config(DemoSettings(), paths, OUT).train
    config = SupernetTrainConfig(
        train_manifest=str(paths["train"]),
        space=space(),
        settings=dataclasses.replace(settings, threads=THREADS),
        out_dir=str(path.parent),
        max_minutes=minutes,
        seed=0,
    )
    log.info("training the supernet for %.0f min", minutes)
    return train_supernet(config)


def depth_supernets(
    paths: dict[str, Path], *, minutes: float | None = None, steps: int | None = None
) -> dict[int, Path]:
    """One supernet per depth of the space (``split_depth``): ``minutes`` shared equally, or
    ``steps`` each (the cosine schedule then spans them)."""
    full = space()
    depths = range(full.min_layers, full.max_layers + 1)
    settings = demo_search_config(DemoSettings(), paths, OUT).train
    name = "supernet-by-depth" if steps is None else f"supernet-by-depth-{steps}steps"
    out = {}
    for depth in depths:
        path = OUT / name / f"depth{depth}" / "supernet.pt"
        if not path.is_file():
            log.info("training the depth-%d supernet (%s)", depth, name)
            train_supernet(
                SupernetTrainConfig(
                    train_manifest=str(paths["train"]),
                    space=full.at_depth(depth),
                    settings=dataclasses.replace(settings, threads=THREADS),
                    out_dir=str(path.parent),
                    max_minutes=None if minutes is None else minutes / len(depths),
                    max_steps=steps,
                    seed=0,
                )
            )
        out[depth] = path
    return out


def by_depth_scores(
    nets: dict[int, Path], specs: list[ArchSpec], of: SupernetSpace, dev: Path
) -> list[dict[str, float]]:
    """Dev scores of ``specs`` (subnets of ``of``) on the supernets by depth."""
    scorers = {}
    full = space()
    with threads(THREADS):
        for depth, path in nets.items():
            net, tokenizer, _ = load_supernet(path)
            scorers[depth] = SubnetScorer(net, tokenizer, read_manifest(dev))
        scorer = ByDepth(full, scorers)
        return [scorer(full.spec(of.choices(spec))) for spec in specs]


def throughput(net_path: Path, dev: Path, evals: int) -> list[dict[str, Any]]:
    cache = OUT / f"throughput-{evals}.json"
    if cache.is_file():
        return list(json.loads(cache.read_text()))
    net, tokenizer, _ = load_supernet(net_path)
    utts = read_manifest(dev)
    specs = distinct_subnets(net.space, evals, seed=1)
    rows = []
    for n_threads in (1, THREADS):
        with threads(n_threads):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            scorer = SubnetScorer(net, tokenizer, utts)
            setup_wall = time.perf_counter() - start_wall
            for spec in specs:
                scorer(spec)
            wall = time.perf_counter() - start_wall
            cpu = time.process_time() - start_cpu
        rows.append(
            {
                "threads": n_threads,
                "evaluations": evals,
                "utterances": scorer.utterances,
                "audio_s": sum(u.duration for u in utts),
                "setup_s": setup_wall,
                "wall_s": wall,
                "cpu_s": cpu,
                "per_cpu_hour": evals * 3600.0 / cpu,
                "per_wall_hour": evals * 3600.0 / wall,
            }
        )
        log.info("throughput: %s", rows[-1])
    cache.write_text(json.dumps(rows, indent=2))
    return rows


def distinct_subnets(
    net_space: SupernetSpace, count: int, *, seed: int, first: tuple[ArchSpec, ...] = ()
) -> list[ArchSpec]:
    """``first``, then distinct seeded random draws, ``count`` subnets in all."""
    rng = np.random.default_rng(seed)
    specs = {s.arch_id: s for s in first}
    while len(specs) < count:
        spec = net_space.sample(rng)
        specs.setdefault(spec.arch_id, spec)
    return list(specs.values())


def ranking_specs(net_space: SupernetSpace, count: int) -> list[ArchSpec]:
    """The largest, the smallest and distinct random subnets (seed 2)."""
    return distinct_subnets(
        net_space, count, seed=2, first=(net_space.largest(), net_space.smallest())
    )


def standalone(
    spec: ArchSpec, paths: dict[str, Path], epochs: int, more: int = 0, seed: int = 0
) -> dict[str, Any]:
    """``spec`` trained alone for ``epochs`` epochs (``more``: then that many epochs again,
    from those weights with a new optimiser and warm-up), scored on the whole dev set;
    ``seed`` seeds the initial weights and the batching."""
    first = OUT / "standalone" / (f"{spec.arch_id}-e{epochs}" + (f"-s{seed}" if seed else ""))
    out = first if not more else first.with_name(f"{first.name}+{more}")
    cache = out / "score.json"
    if cache.is_file():
        return dict(json.loads(cache.read_text()))
    if more:
        standalone(spec, paths, epochs, seed=seed)  # the first part (cached)
    settings = demo_search_config(DemoSettings(), paths, OUT).train
    config = dataclasses.replace(settings, threads=THREADS).train_config(
        train_manifest=str(paths["train"]),
        out_dir=str(out),
        arch=spec,
        max_epochs=more or epochs,
        seed=seed,
        init_checkpoint=str(first / "last.pt") if more else None,
    )
    result = train(config, overwrite=True, progress=False)
    model, tokenizer, _ = load_model(result.last_checkpoint)
    with threads(THREADS):
        scores = evaluate_model(
            model, tokenizer, read_manifest(paths["dev"]), name="dev", rtf_utterances=0
        )
    row = {
        "wer": scores.wer,
        "cer": scores.cer,
        "steps": result.steps,
        "train_seconds": result.train_seconds,
        "params": result.num_params,
    }
    cache.write_text(json.dumps(row, indent=2))
    return row


def ranking(
    net_path: Path,
    paths: dict[str, Path],
    count: int,
    epochs: int,
    more: int,
    split: dict[str, dict[int, Path]] | None = None,
    seeds: int = 1,
) -> list[dict[str, Any]]:
    """One row per ranked architecture: its inherited scores, those on each set of supernets
    by depth in ``split`` (columns ``<key>_wer``, ``<key>_cer``) and the stand-alone ones."""
    net, tokenizer, _ = load_supernet(net_path)
    specs = ranking_specs(net.space, count)
    with threads(THREADS):
        scorer = SubnetScorer(net, tokenizer, read_manifest(paths["dev"]))
        inherited = [scorer(spec) for spec in specs]
    by_depth = {
        key: by_depth_scores(nets, specs, net.space, paths["dev"])
        for key, nets in (split or {}).items()
    }
    rows = []
    for i, (spec, inh) in enumerate(zip(specs, inherited, strict=True)):
        log.info("standalone %d/%d: %s", i + 1, len(specs), spec.summary())
        alone = standalone(spec, paths, epochs)
        longer = standalone(spec, paths, epochs, more) if more else None
        rows.append(
            {
                "arch_id": spec.arch_id,
                "summary": spec.summary(),
                "layers": net.space.choices(spec),
                "inherited_wer": inh["wer"],
                "inherited_cer": inh["cer"],
                "standalone_wer": alone["wer"],
                "standalone_cer": alone["cer"],
                "params": alone["params"],
                "steps": alone["steps"],
                "train_seconds": alone["train_seconds"],
            }
        )
        for key, scores in by_depth.items():
            rows[-1].update({f"{key}_wer": scores[i]["wer"], f"{key}_cer": scores[i]["cer"]})
        if seeds > 1:
            runs = [alone] + [standalone(spec, paths, epochs, seed=s) for s in range(1, seeds)]
            for s, run in enumerate(runs[1:], start=1):
                rows[-1].update({f"seed{s}_wer": run["wer"], f"seed{s}_cer": run["cer"]})
            rows[-1].update(
                {f"seeds_{m}": sum(run[m] for run in runs) / len(runs) for m in ("wer", "cer")}
            )
        if longer is not None:
            rows[-1].update(
                {
                    "longer_wer": longer["wer"],
                    "longer_cer": longer["cer"],
                    "longer_train_seconds": alone["train_seconds"] + longer["train_seconds"],
                }
            )
    return rows


def tau(
    rows: list[dict[str, Any]],
    metric: str,
    reference: str = "standalone",
    ranker: str = "inherited",
) -> float:
    """Kendall tau between two columns of ``rows``: the ``ranker``'s scores (``inherited``,
    or ``split``: the supernets by depth; or a stand-alone column) and the ``reference``'s
    (``standalone``; ``longer``: after the extra epochs; ``seed<s>``: trained again with
    seed ``s``; ``seeds``: the mean over the seeds)."""
    a = [r[f"{ranker}_{metric}"] for r in rows]
    b = [r[f"{reference}_{metric}"] for r in rows]
    return float(kendalltau(a, b).statistic)


def plot(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    references = ["standalone"] + (["longer"] if "longer_wer" in rows[0] else [])
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, metric in zip(axes, ("wer", "cer"), strict=True):
        x = [100 * r[f"inherited_{metric}"] for r in rows]
        titles = []
        for reference, marker in zip(references, ("o", "^"), strict=False):
            y = [100 * r[f"{reference}_{metric}"] for r in rows]
            label = "shorter" if reference == "standalone" else "longer"
            points = ax.scatter(
                x,
                y,
                c=[r["params"] / 1e6 for r in rows],
                cmap="viridis",
                marker=marker,
                label=f"{label} stand-alone training",
            )
            titles.append(f"{label}: tau {tau(rows, metric, reference):.2f}")
        ax.set_xlabel(f"inherited dev {metric.upper()} (%)")
        ax.set_ylabel(f"stand-alone dev {metric.upper()} (%)")
        ax.set_title("; ".join(titles), fontsize=9)
        ax.legend(fontsize=7)
    fig.colorbar(points, ax=axes, label="parameters (M)")
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120)
    plt.close(fig)


def _layer(width: int, kernel: int, heads: int, ffn: float, block: str = "full") -> str:
    if block == "conv":
        return f"w{width} k{kernel} f{ffn:g} conv"
    if block == "attention":
        return f"w{width} h{heads} f{ffn:g} attention"
    return f"w{width} k{kernel} h{heads} f{ffn:g}"


def _rankers(rows: list[dict[str, Any]], info: dict[str, Any]) -> list[tuple[str, str]]:
    """``(column key, name)`` of every ranker ``rows`` hold."""
    out = [("inherited", f"one supernet, {info['supernet_steps']} steps")]
    if "split_wer" in rows[0]:
        out.append(("split", f"one per depth, {info['split_minutes']:g} min shared"))
    for steps in info.get("split_steps") or ():
        out.append((f"split{steps}", f"one per depth, {steps} steps each"))
    if "seed1_wer" in rows[0]:
        out.append(("seed1", f"stand-alone, {info['epochs']} epochs, seed 1"))
    return out


def _references(rows: list[dict[str, Any]], info: dict[str, Any]) -> list[tuple[str, str]]:
    """``(column key, name)`` of every stand-alone reference ``rows`` hold."""
    e = info["epochs"]
    out = [("standalone", f"{e} ep")]
    if "seed1_wer" in rows[0]:
        out += [("seed1", f"{e} ep, seed 1"), ("seeds", f"{e} ep, mean of {_seeds(rows)} seeds")]
    if "longer_wer" in rows[0]:
        out.append(("longer", f"{e + info['more_epochs']} ep"))
    return out


def _seeds(rows: list[dict[str, Any]]) -> int:
    """Seeds of the stand-alone training in ``rows`` (columns ``seed<s>_wer`` besides seed 0)."""
    return 1 + sum(1 for key in rows[0] if re.fullmatch(r"seed\d+_wer", key))


def _between_seeds(rows: list[dict[str, Any]], metric: str) -> float:
    """Mean Kendall tau between the stand-alone orders of every two seeds."""
    columns = ["standalone"] + [f"seed{s}" for s in range(1, _seeds(rows))]
    pairs = list(itertools.combinations(columns, 2))
    return sum(tau(rows, metric, a, b) for a, b in pairs) / len(pairs)


def _tau_table(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    """Kendall tau of every ranker against every reference, on WER and CER."""
    references = _references(rows, info)
    header = ["ranker", *[f"{name} {m}" for _, name in references for m in ("WER", "CER")]]
    body = []
    for key, name in _rankers(rows, info):
        cells = [name]
        for ref, _ in references:
            for metric in ("wer", "cer"):
                same = ref == key or (key == "seed1" and ref == "seeds")
                cells.append("-" if same else f"{tau(rows, metric, ref, key):.3f}")
        body.append(cells)
    return markdown_table(header, body)


def _ranking_line(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    e = info["epochs"]
    line = (
        f"**Ranking** (Kendall tau, inherited vs stand-alone, {len(rows)} architectures; goal "
        f"0.8): after {e} epochs, WER {tau(rows, 'wer'):.3f}, CER {tau(rows, 'cer'):.3f}"
    )
    if "longer_wer" in rows[0]:
        n = e + info["more_epochs"]
        line += (
            f"; after {n} epochs, WER {tau(rows, 'wer', 'longer'):.3f}, CER "
            f"{tau(rows, 'cer', 'longer'):.3f}. Between the stand-alone scores at {e} and "
            f"{n} epochs: WER {tau(rows, 'wer', 'longer', 'standalone'):.3f}, CER "
            f"{tau(rows, 'cer', 'longer', 'standalone'):.3f}"
        )
    line += "."
    if "seed1_wer" in rows[0]:
        line += (
            f" **The reference's own noise**: the same {e}-epoch training with "
            f"{_seeds(rows)} seeds; two seeds' orders agree to (mean over pairs) WER "
            f"{_between_seeds(rows, 'wer'):.3f}, CER {_between_seeds(rows, 'cer'):.3f}. No "
            "ranker can be expected to agree with one seed's order much better than another "
            "seed does; the mean over the seeds is the steadier reference."
        )
    if len(_rankers(rows, info)) > 1:
        line += (
            " Every ranker against every reference (one supernet per depth: `split_depth`, "
            "the same settings; with a step budget the cosine schedule spans it):\n\n"
            + _tau_table(rows, info)
        )
    return line


def _ranking_table(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    longer = "longer_wer" in rows[0]
    e = info["epochs"]
    header = ["architecture", "params", "inherited WER", "inherited CER"]
    header += [f"{e} ep WER", f"{e} ep CER"]
    if longer:
        n = e + info["more_epochs"]
        header += [f"{n} ep WER", f"{n} ep CER"]
    header.append("stand-alone training")
    body = []
    for r in sorted(rows, key=lambda r: r["inherited_cer"]):
        layers = ", ".join(_layer(*layer) for layer in r["layers"])
        row = [
            f"{r['summary'].split(' · ')[0]} ({layers})",
            f"{r['params'] / 1e6:.2f} M",
            f"{100 * r['inherited_wer']:.1f}%",
            f"{100 * r['inherited_cer']:.1f}%",
            f"{100 * r['standalone_wer']:.1f}%",
            f"{100 * r['standalone_cer']:.1f}%",
        ]
        if longer:
            row += [f"{100 * r['longer_wer']:.1f}%", f"{100 * r['longer_cer']:.1f}%"]
        seconds = r["longer_train_seconds"] if longer else r["train_seconds"]
        row.append(f"{seconds / 60:.1f} min")
        body.append(row)
    return markdown_table(header, body)


def _flags(info: dict[str, Any], rows: list[dict[str, Any]], speed: list[dict[str, Any]]) -> str:
    """The command-line flags that reproduce ``info``'s run."""
    flags = [
        f"--supernet-minutes {round(info['supernet_minutes']):g}",
        f"--archs {len(rows)}",
        f"--epochs {info['epochs']}",
        f"--more-epochs {info.get('more_epochs', 0)}",
        f"--split-minutes {info.get('split_minutes', 0):g}",
    ]
    if info.get("split_steps"):
        flags.append("--split-steps " + " ".join(str(n) for n in info["split_steps"]))
    if "seed1_wer" in rows[0]:
        flags.append(f"--seeds {_seeds(rows)}")
    flags.append(f"--evals {speed[0]['evaluations']}")
    return " ".join(flags)


def section(result: dict[str, Any]) -> str:
    info, rows, speed = result["info"], result["ranking"], result["throughput"]
    lines = [
        f"Measured on {info['cpu']}, torch {info['torch']}. Default task: the demo's "
        f"synthetic corpus ({info['train_utts']} training utterances; dev voices unseen). "
        f"Supernet over {info['space']}, trained with the sandwich rule (largest, smallest "
        f"and 2 random subnets per step) for {info['supernet_minutes']:.0f} min "
        f"({info['supernet_steps']} steps) at {THREADS} threads, with the demo's training "
        "settings. Stand-alone: each architecture trained from scratch for "
        f"{info['epochs']} epochs with the same settings"
        + (
            f", then {more} epochs more from those weights (a new optimiser and warm-up)"
            if (more := info.get("more_epochs"))
            else ""
        )
        + ". All scored by greedy CTC decoding "
        f"on the whole dev set ({info['dev_utts']} utterances).",
        "",
        _ranking_line(rows, info),
        "",
        "Against stand-alone models trained 22-30 epochs on a GPU, and supernets trained with "
        'in-place distillation: the section "Weight sharing against longer stand-alone '
        'training (GPU)" below.',
        "",
        _ranking_table(rows, info),
        "",
        "![inherited vs stand-alone](benchmarks/figures/weight_sharing.png)",
        "",
        f"**Throughput**: subnets scored with inherited weights on the dev subset "
        f"({speed[0]['utterances']} utterances, {speed[0]['audio_s'] / 60:.1f} min of audio; "
        "the features and the stem's convolutions computed once, then each subnet's stem "
        "projection, layers and greedy decoding). Goal: "
        "10,000 evaluations per CPU-hour.",
        "",
        markdown_table(
            [
                "threads",
                "subnets",
                "wall time",
                "CPU time",
                "per CPU-hour",
                "per wall hour",
                "features once",
            ],
            [
                [
                    s["threads"],
                    s["evaluations"],
                    f"{s['wall_s']:.0f} s",
                    f"{s['cpu_s']:.0f} s",
                    f"{s['per_cpu_hour']:,.0f}",
                    f"{s['per_wall_hour']:,.0f}",
                    f"{s['setup_s']:.1f} s",
                ]
                for s in speed
            ],
        ),
        "",
        f"Reproduce: `.venv/bin/python benchmarks/weight_sharing.py {_flags(info, rows, speed)}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet-minutes", type=float, default=20.0)
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--more-epochs",
        type=int,
        default=0,
        help="then train each stand-alone model this many epochs more (a second reference)",
    )
    parser.add_argument("--evals", type=int, default=200)
    parser.add_argument(
        "--split-minutes",
        type=float,
        default=0.0,
        help="also train one supernet per depth, sharing these minutes (0: not)",
    )
    parser.add_argument(
        "--split-steps",
        type=int,
        nargs="*",
        default=[],
        help="also train one supernet per depth for each of these step counts (each depth)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="train each stand-alone model with this many seeds (the reference's own noise)",
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        result = json.loads(RESULTS.read_text())
    else:
        paths = manifests()
        net_path = supernet(paths, args.supernet_minutes)
        speed = throughput(net_path, dev_subset(paths["dev"]), args.evals)
        split = {}
        if args.split_minutes:
            split["split"] = depth_supernets(paths, minutes=args.split_minutes)
        for steps in args.split_steps:
            split[f"split{steps}"] = depth_supernets(paths, steps=steps)
        rows = ranking(
            net_path,
            paths,
            args.archs,
            args.epochs,
            args.more_epochs,
            split,
            seeds=args.seeds,
        )
        saved = torch.load(net_path, weights_only=False, map_location="cpu")
        s = space()
        result = {
            "info": {
                "cpu": cpu_name(),
                "torch": torch.__version__,
                "space": (
                    f"{s.base.encoder} {s.min_layers}-{s.max_layers} layers, widths "
                    f"{list(s.widths)}, kernels {list(s.kernels)}, heads {list(s.heads)}, "
                    f"FFN x{list(s.ffn_expansions)} ({s.base.summary().split(' · ', 1)[1]})"
                ),
                "supernet_minutes": saved["train_seconds"] / 60.0,
                "supernet_steps": saved["steps"],
                "epochs": args.epochs,
                "more_epochs": args.more_epochs,
                "split_minutes": args.split_minutes,
                "split_steps": args.split_steps,
                "dev_utts": len(read_manifest(paths["dev"])),
                "train_utts": len(read_manifest(paths["train"])),
            },
            "throughput": speed,
            "ranking": rows,
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2))
    plot(result["ranking"])
    update_section(REPO / "BENCHMARKS.md", "weight_sharing", "Weight sharing", section(result))
    print(section(result))


if __name__ == "__main__":
    sys.exit(main())
