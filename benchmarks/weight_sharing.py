"""Weight sharing on the default task: how well inherited weights rank, and how fast.

Runs, from the repository root (nothing else heavy meanwhile: throughput is timed):

    .venv/bin/python benchmarks/weight_sharing.py [--supernet-minutes 20] [--archs 20]
        [--epochs 6] [--evals 200] [--report-only]

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
   between the two orders, on WER and on CER.

Every stage is cached under ``runs/benchmarks/weight_sharing/`` (a rerun continues); the
section "Weight sharing" of BENCHMARKS.md and ``benchmarks/results/weight_sharing.json`` are
written at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
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
from speechnas.hardware.measure import threads
from speechnas.reports import markdown_table, update_section
from speechnas.supernet import SupernetSpace
from speechnas.supernet.scoring import ByDepth, SubnetScorer
from speechnas.supernet.train import SupernetTrainConfig, load_supernet, train_supernet
from speechnas.synth import synthesize_corpus
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


def depth_supernets(paths: dict[str, Path], minutes: float) -> dict[int, Path]:
    """One supernet per depth of the space, ``minutes`` shared equally (``split_depth``)."""
    full = space()
    depths = range(full.min_layers, full.max_layers + 1)
    settings = demo_search_config(DemoSettings(), paths, OUT).train
    out = {}
    for depth in depths:
        path = OUT / "supernet-by-depth" / f"depth{depth}" / "supernet.pt"
        if not path.is_file():
            log.info("training the depth-%d supernet for %.1f min", depth, minutes / len(depths))
            train_supernet(
                SupernetTrainConfig(
                    train_manifest=str(paths["train"]),
                    space=full.at_depth(depth),
                    settings=dataclasses.replace(settings, threads=THREADS),
                    out_dir=str(path.parent),
                    max_minutes=minutes / len(depths),
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
    spec: ArchSpec, paths: dict[str, Path], epochs: int, more: int = 0
) -> dict[str, Any]:
    """``spec`` trained alone for ``epochs`` epochs (``more``: then that many epochs again,
    from those weights with a new optimiser and warm-up), scored on the whole dev set."""
    first = OUT / "standalone" / f"{spec.arch_id}-e{epochs}"
    out = first if not more else first.with_name(f"{first.name}+{more}")
    cache = out / "score.json"
    if cache.is_file():
        return dict(json.loads(cache.read_text()))
    if more:
        standalone(spec, paths, epochs)  # the first part (cached)
    settings = demo_search_config(DemoSettings(), paths, OUT).train
    config = dataclasses.replace(settings, threads=THREADS).train_config(
        train_manifest=str(paths["train"]),
        out_dir=str(out),
        arch=spec,
        max_epochs=more or epochs,
        seed=0,
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
    depth_nets: dict[int, Path] | None = None,
) -> list[dict[str, Any]]:
    net, tokenizer, _ = load_supernet(net_path)
    specs = ranking_specs(net.space, count)
    with threads(THREADS):
        scorer = SubnetScorer(net, tokenizer, read_manifest(paths["dev"]))
        inherited = [scorer(spec) for spec in specs]
    split = by_depth_scores(depth_nets, specs, net.space, paths["dev"]) if depth_nets else None
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
        if split is not None:
            rows[-1].update({"split_wer": split[i]["wer"], "split_cer": split[i]["cer"]})
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
    """Kendall tau of the ``ranker``'s scores (``inherited``, or ``split``: the supernets by
    depth) against ``reference`` (``standalone``, or ``longer``: after the extra epochs), or
    between the two references (``between``)."""
    if reference == "between":
        a = [r[f"standalone_{metric}"] for r in rows]
        b = [r[f"longer_{metric}"] for r in rows]
    else:
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
            f"{n} epochs: WER {tau(rows, 'wer', 'between'):.3f}, CER "
            f"{tau(rows, 'cer', 'between'):.3f}"
        )
    line += "."
    if "split_wer" in rows[0]:
        refs = ["standalone"] + (["longer"] if "longer_wer" in rows[0] else [])
        line += (
            f" **One supernet per depth** ({info['split_minutes']:g} min shared by the "
            "depths, the same settings; `split_depth`): "
            + "; ".join(
                f"after {e if r == 'standalone' else e + info['more_epochs']} epochs, WER "
                f"{tau(rows, 'wer', r, 'split'):.3f}, CER {tau(rows, 'cer', r, 'split'):.3f}"
                for r in refs
            )
            + "."
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
        "Reproduce: `.venv/bin/python benchmarks/weight_sharing.py "
        f"--supernet-minutes {round(info['supernet_minutes']):g} --archs {len(rows)} "
        f"--epochs {info['epochs']} --more-epochs {info.get('more_epochs', 0)} "
        f"--split-minutes {info.get('split_minutes', 0):g} "
        f"--evals {speed[0]['evaluations']}`",
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
        depth_nets = depth_supernets(paths, args.split_minutes) if args.split_minutes else None
        rows = ranking(net_path, paths, args.archs, args.epochs, args.more_epochs, depth_nets)
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
