"""DARTS at two latency targets, beside the presets and the demo search's best architecture.

Runs, from the repository root, after the demo (``make demo``: its full-training search gives
one of the rows). Run nothing else heavy meanwhile: budgets are wall-clock and latency is
measured.

    .venv/bin/python benchmarks/darts_targets.py [--darts-minutes 5] [--retrain-minutes 3]
        [--table-specs 32] [--percentiles 30 70 | --targets-ms A B] [--penalty 1]
        [--alpha-lr 0.02] [--alpha-warmup-steps 15] [--darts-batch-seconds 40] [--quick]
        [--report-only]

About 35 minutes with the defaults on two cores: a few minutes of profiling, two DARTS runs
of ``--darts-minutes``, six retrainings of ``--retrain-minutes`` plus their scoring. Every
stage is cached in ``runs/benchmarks/darts_targets/`` (the latency table, each DARTS run,
each retrained model, the latency measurements), so a rerun resumes where it stopped, and a
stage whose settings changed is redone.

1. Data: the demo's synthetic corpus (``runs/demo/corpus``, synthesised as the demo does if
   absent). DARTS learns weights and architecture on different data: the demo's train split
   is split again by speaker (15% of the utterances, seed 0) into the weights' training set
   and ``alpha``'s validation set. The demo's dev set is only used for the final scores.
2. A latency table for cpu-torch, 2 threads, 5 s of audio, part by part: one model per
   candidate layer (all layers alike), then architectures of the DARTS family (Conformers of
   1-4 layers of the candidate layers) sampled with seed 0, stratified by depth.
3. DARTS (:mod:`speechnas.darts`): the base is the demo's kind of Conformer (logmel80,
   conv2d/4, relative attention, CTC, swish, layernorm) with 4 layer positions of width 96;
   each position mixes Conformer layers of kernel 5/11/15 and FFN x2/x4 (4 heads) and the
   identity. The targets are percentiles (default 30th and 70th) of the table's estimate
   over every choice of the candidates. Per target, one first-order DARTS run of
   ``--darts-minutes`` with the penalty ``--penalty * |E[latency] - target|``, then the
   exact extraction of the most likely architecture whose table estimate fits the target.
4. Retraining from scratch, one protocol for all: the two DARTS architectures, the presets
   ``conformer-ctc-xs``, ``cnn-ctc`` and ``blstm-ctc``, and the best architecture of the
   demo's search, each trained ``--retrain-minutes`` on the demo's whole train split with the
   demo's training settings (character tokens, 80 s batches, lr 3e-3, 30 warm-up steps), then
   decoded greedily on the demo's dev set (its last checkpoint: dev picks nothing).
5. Latency: every retrained model transcribing 5 s of audio at batch 1 with 2 threads,
   measured in alternating rounds (so a change in the machine's load hits every model alike).
6. The section "DARTS at two latency targets" of BENCHMARKS.md and
   ``benchmarks/results/darts_targets.json``.

``--quick`` shrinks everything (2 positions of 2 candidates and the identity, a 4-model
table, seconds of DARTS and retraining, 40 dev utterances) to check that the script runs; it
works in ``runs/benchmarks/darts_targets_quick/`` and leaves BENCHMARKS.md and the results
JSON alone. ``--report-only`` rewrites the section from the results JSON.
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
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from speechnas._config_io import read_yaml
from speechnas._provenance import cpu_name, run_info
from speechnas.arch import ArchSpec, LayerSpec, active_layer_fields
from speechnas.darts import DartsConfig, train_darts
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.data.split import split_by_speaker
from speechnas.demo import DEMO_SPACE, DemoSettings, demo_search_config
from speechnas.evaluate.runner import evaluate_model
from speechnas.extract.layers import layer_problem
from speechnas.hardware.lut import LatencyTable, model_parts
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.tables import profile_table, sample_specs
from speechnas.hardware.targets import make_target
from speechnas.presets import PRESETS
from speechnas.reports import markdown_table, update_section
from speechnas.timing import compare_latency
from speechnas.train import TrainSettings, load_model, train

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "runs" / "demo"
WORK = REPO / "runs" / "benchmarks" / "darts_targets"
RESULTS = REPO / "benchmarks" / "results" / "darts_targets.json"
THREADS = 2
AUDIO_S = 5.0
#: Share of the demo's train utterances (whole speakers) that alpha learns on.
VAL_FRACTION = 0.15
PRESET_ROWS = ("conformer-ctc-xs", "cnn-ctc", "blstm-ctc")

log = logging.getLogger("darts_targets")


@dataclass(frozen=True)
class Setup:
    """Everything a run depends on (the full benchmark's, or ``--quick``'s)."""

    out: str
    quick: bool
    width: int
    positions: int
    kernels: tuple[int, ...]
    ffn_expansions: tuple[float, ...]
    heads: int
    table_specs: int
    percentiles: tuple[float, ...]
    targets_ms: tuple[float, ...] | None
    penalty: float
    alpha_lr: float
    alpha_warmup_steps: int
    darts_minutes: float
    darts_batch_seconds: float
    retrain_minutes: float
    dev_utterances: int | None  # None: the whole dev set
    latency_repeats: int
    latency_rounds: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Setup:
        full = cls(
            out=str(WORK),
            quick=False,
            width=96,
            positions=4,
            kernels=(5, 11, 15),
            ffn_expansions=(2.0, 4.0),
            heads=4,
            table_specs=args.table_specs,
            percentiles=tuple(args.percentiles),
            targets_ms=tuple(args.targets_ms) if args.targets_ms else None,
            penalty=args.penalty,
            alpha_lr=args.alpha_lr,
            alpha_warmup_steps=args.alpha_warmup_steps,
            darts_minutes=args.darts_minutes,
            darts_batch_seconds=args.darts_batch_seconds,
            retrain_minutes=args.retrain_minutes,
            dev_utterances=None,
            latency_repeats=10,
            latency_rounds=3,
        )
        if not args.quick:
            return full
        return dataclasses.replace(
            full,
            out=str(WORK.parent / "darts_targets_quick"),
            quick=True,
            positions=2,
            kernels=(5, 15),
            ffn_expansions=(2.0,),
            table_specs=4,
            darts_minutes=0.2,
            alpha_warmup_steps=min(args.alpha_warmup_steps, 2),
            darts_batch_seconds=10.0,
            retrain_minutes=0.1,
            dev_utterances=40,
            latency_repeats=3,
            latency_rounds=1,
        )

    @property
    def root(self) -> Path:
        return Path(self.out)


def _write(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


def _cached(path: Path, key: Any) -> dict[str, Any] | None:
    """The record at ``path`` if it was made with ``key`` (the settings it depends on)."""
    if not path.exists():
        return None
    record: dict[str, Any] = json.loads(path.read_text())
    return record if record.get("key") == json.loads(json.dumps(key, default=str)) else None


# --- 1. data -----------------------------------------------------------------------------


def demo_corpus() -> dict[str, Path]:
    """The demo's manifests (``train``, ``dev``, ``test``), synthesised as the demo does."""
    folder = DEMO / "corpus"
    manifests = {split: folder / f"{split}.jsonl" for split in ("train", "dev", "test")}
    if not all(p.exists() for p in manifests.values()):
        from speechnas.synth import synthesize_corpus

        demo = DemoSettings()
        made = synthesize_corpus(folder, hours=demo.hours, seed=demo.seed)
        manifests = {split: Path(made.manifests[split]) for split in manifests}
    return manifests


def darts_split(train_manifest: Path, setup: Setup) -> tuple[Path, Path, dict[str, int]]:
    """The demo's train split, split by speaker into DARTS' weight and alpha sets."""
    utts = read_manifest(train_manifest)
    weights, val = split_by_speaker(utts, dev_fraction=VAL_FRACTION, seed=0)
    folder = setup.root / "data"
    weights_path = write_manifest(weights, folder / "darts_train.jsonl")
    val_path = write_manifest(val, folder / "darts_val.jsonl")
    sizes = {
        "train_utts": len(weights),
        "train_speakers": len({u.speaker for u in weights}),
        "val_utts": len(val),
        "val_speakers": len({u.speaker for u in val}),
    }
    return Path(weights_path), Path(val_path), sizes


def demo_best() -> tuple[ArchSpec, dict[str, Any]]:
    """The best architecture of the demo's search (``results.json`` -> ``final[0]``)."""
    results = DEMO / "results.json"
    if not results.exists():
        raise SystemExit(
            f"{results.relative_to(REPO)} is missing: this benchmark compares against the "
            "demo search's best architecture; run `make demo` (speechnas demo --out runs/demo) "
            "first"
        )
    final = json.loads(results.read_text()).get("final") or []
    if not final:
        raise SystemExit(f"{results.relative_to(REPO)} has no final model: rerun `make demo`")
    best = final[0]
    arch_id = best["arch_id"]
    spec = _spec_from_final(arch_id) or _spec_from_study(arch_id)
    if spec is None:
        raise SystemExit(
            f"the spec of the demo's best architecture {arch_id} is neither in "
            f"runs/demo/search/final/{arch_id}/config.yaml nor in runs/demo/search/study.db"
        )
    info = {
        "trial": best.get("trial"),
        "arch_id": arch_id,
        "dev": best.get("scores", {}).get("dev"),
        "epochs": best.get("epochs"),
        "train_seconds": best.get("train_seconds"),
        "search_seconds": _search_seconds(),
    }
    return spec, info


def _spec_from_final(arch_id: str) -> ArchSpec | None:
    path = DEMO / "search" / "final" / arch_id / "config.yaml"
    if not path.exists():
        return None
    spec = ArchSpec.from_dict(read_yaml(path)["arch"])
    return spec if spec.arch_id == arch_id else None


def _demo_studies() -> list[optuna.Study]:
    db = DEMO / "search" / "study.db"
    if not db.exists():
        return []
    storage = f"sqlite:///{db}"
    return [
        optuna.load_study(study_name=s.study_name, storage=storage)
        for s in optuna.get_all_study_summaries(storage)
    ]


def _spec_from_study(arch_id: str) -> ArchSpec | None:
    for study in _demo_studies():
        for trial in study.trials:
            if trial.user_attrs.get("arch_id") == arch_id and "spec" in trial.user_attrs:
                return ArchSpec.from_dict(trial.user_attrs["spec"])
    return None


def _search_seconds() -> float | None:
    """Wall seconds of the demo search's trials, summed (``None``: not recorded)."""
    for study in _demo_studies():
        if study.study_name == "search":
            return float(sum(t.user_attrs.get("wall_seconds") or 0.0 for t in study.trials))
    return None


# --- 2. latency table --------------------------------------------------------------------


def darts_family(setup: Setup) -> tuple[ArchSpec, tuple[tuple[LayerSpec, ...], ...]]:
    """The base architecture and, per position, its candidate layers (identity last)."""
    layers = tuple(
        LayerSpec(width=setup.width, kernel=k, heads=setup.heads, ffn_expansion=f)
        for k in setup.kernels
        for f in setup.ffn_expansions
    )
    base = ArchSpec.uniform(
        num_layers=setup.positions,
        width=setup.width,
        heads=setup.heads,
        kernel=max(setup.kernels),
        ffn_expansion=max(setup.ffn_expansions),
        n_mels=80,
        attention="rel",
    )
    skip = LayerSpec(width=setup.width, heads=setup.heads, skip=True)
    return base, ((*layers, skip),) * setup.positions


def table_specs(setup: Setup) -> list[ArchSpec]:
    """The table's models, a prefix-stable list: one per candidate layer (every position
    alike), then the DARTS family sampled (seed 0, stratified by depth)."""
    base, candidates = darts_family(setup)
    uniform = [
        dataclasses.replace(base, layers=(layer,) * setup.positions)
        for layer in candidates[0]
        if not layer.skip
    ]
    family = dataclasses.replace(
        DEMO_SPACE,
        encoders=("conformer",),
        n_mels=(80,),
        widths=(setup.width,),
        kernels=setup.kernels,
        heads=(setup.heads,),
        ffn_expansions=setup.ffn_expansions,
        min_layers=1,
        max_layers=setup.positions,
    )
    seen = {s.arch_id for s in uniform}
    sampled = sample_specs(family, setup.table_specs, seed=0, stratified=True)
    specs = uniform + [s for s in sampled if s.arch_id not in seen]
    return specs[: max(setup.table_specs, len(uniform))]


def latency_table(setup: Setup) -> Path:
    """The DARTS family's latency table on this CPU, extended to ``setup.table_specs``."""
    path = setup.root / f"table-cpu-torch-{THREADS}t-w{setup.width}.json"
    table = LatencyTable.load(path) if path.exists() else None
    have = len(table.models) if table is not None else 0
    specs = table_specs(setup)[have:]
    if specs:
        start = time.perf_counter()
        table = profile_table(
            specs, make_target("cpu-torch", THREADS), audio_s=AUDIO_S, table=table
        )
        table.save(path)
        log.info("profiled %d models in %.0f s", len(specs), time.perf_counter() - start)
    return path


def table_estimate(table: LatencyTable, spec: ArchSpec) -> float:
    return table.estimate(model_parts(untrained_model(spec), spec, table.audio_s))[0]


# --- 3. DARTS ----------------------------------------------------------------------------


def targets(setup: Setup, table: LatencyTable) -> dict[str, Any]:
    """The candidates' table latencies and the two targets."""
    base, candidates = darts_family(setup)
    zeros = [[0.0] * len(position) for position in candidates]
    problem = layer_problem(base, candidates, zeros, table)
    per_position = [[c.latency_ms for c in position] for position in problem.layers]
    totals = [
        problem.base_ms + sum(per_position[i][k] for i, k in enumerate(choice))
        for choice in itertools.product(*(range(len(p)) for p in candidates))
        if not all(candidates[i][k].skip for i, k in enumerate(choice))
    ]
    chosen: list[tuple[str, float, float | None]]
    if setup.targets_ms:
        chosen = [(f"{ms:g} ms", ms, None) for ms in setup.targets_ms]
    else:
        chosen = [(f"p{q:g}", float(np.percentile(totals, q)), q) for q in setup.percentiles]
    return {
        "base_ms": problem.base_ms,
        "candidate_ms": per_position[0],
        "choices": len(totals),
        "choice_ms_range": [min(totals), max(totals)],
        "targets": [{"label": label, "target_ms": ms, "percentile": q} for label, ms, q in chosen],
    }


def run_darts(
    setup: Setup,
    target: dict[str, Any],
    data: tuple[Path, Path],
    table_path: Path,
    settings: TrainSettings,
) -> dict[str, Any]:
    """One DARTS run at ``target`` (cached by its settings)."""
    base, candidates = darts_family(setup)
    folder = setup.root / "darts" / target["label"].replace(" ", "")
    config = DartsConfig(
        train_manifest=str(data[0]),
        val_manifest=str(data[1]),
        base=base,
        candidates=candidates,
        table=str(table_path),
        target_ms=target["target_ms"],
        penalty=setup.penalty,
        settings=dataclasses.replace(settings, batch_seconds=setup.darts_batch_seconds),
        alpha_lr=setup.alpha_lr,
        alpha_warmup_steps=setup.alpha_warmup_steps,
        max_minutes=setup.darts_minutes,
        out_dir=str(folder),
        seed=0,
    )
    key = {
        "base": base.to_dict(),
        "layers": [[dataclasses.asdict(c) for c in p] for p in candidates],
        "target_ms": round(target["target_ms"], 6),
        "penalty": setup.penalty,
        "alpha_lr": setup.alpha_lr,
        "alpha_warmup_steps": setup.alpha_warmup_steps,
        "minutes": setup.darts_minutes,
        "settings": dataclasses.asdict(config.settings),
        "table_models": len(LatencyTable.load(table_path).models),
    }
    record_path = folder / "record.json"
    record = _cached(record_path, key)
    if record is not None:
        return record
    start = time.perf_counter()
    result = train_darts(config)
    seconds = time.perf_counter() - start
    if result.spec is None:
        raise SystemExit(f"DARTS: no architecture of the candidates fits {target['label']}")
    table = LatencyTable.load(table_path)
    history = result.history
    record = {
        "key": key,
        **target,
        "spec": result.spec.to_dict(),
        "arch_id": result.spec.arch_id,
        "estimate_ms": table_estimate(table, result.spec),
        "most_likely": result.most_likely.to_dict(),
        "most_likely_estimate_ms": table_estimate(table, result.most_likely),
        "steps": len(history),
        "seconds": seconds,
        "expected_ms_first": history[0]["expected_latency_ms"] if history else None,
        "expected_ms_last": history[-1]["expected_latency_ms"] if history else None,
        # the first validation loss: alpha's warm-up steps have none
        "val_loss_first": next(
            (h["val_loss"] for h in history if h["val_loss"] is not None), None
        ),
        "val_loss_last": history[-1]["val_loss"] if history else None,
        "probs": result.probs,
        "max_probs": [max(p) for p in result.probs],
        "darts_json": str(result.path),
    }
    _write(record_path, record)
    log.info("DARTS %s: %s in %d steps", target["label"], describe(result.spec), len(history))
    return record


# --- 4. retraining -----------------------------------------------------------------------


def retrain(
    setup: Setup,
    spec: ArchSpec,
    train_manifest: Path,
    dev_path: Path,
    settings: TrainSettings,
) -> dict[str, Any]:
    """``spec`` trained from scratch for ``setup.retrain_minutes``, scored on dev (cached
    per architecture)."""
    key = {
        "minutes": setup.retrain_minutes,
        "settings": dataclasses.asdict(settings),
        "train": str(train_manifest),
        "dev": str(dev_path),
        "dev_utterances": setup.dev_utterances,
    }
    cache = setup.root / "models" / f"{spec.arch_id}.json"
    row = _cached(cache, key)
    if row is not None:
        return row
    config = settings.train_config(
        train_manifest=str(train_manifest),
        dev_manifest=None,  # dev is scored once, below, on the last checkpoint
        out_dir=str(setup.root / "train" / spec.arch_id),
        arch=spec,
        max_epochs=1000,
        max_minutes=setup.retrain_minutes,
        seed=0,
    )
    result = train(config, overwrite=True, progress=False)
    model, tokenizer, state = load_model(result.last_checkpoint)
    dev = read_manifest(dev_path)[: setup.dev_utterances]
    scores = evaluate_model(model, tokenizer, dev, name="demo dev", rtf_utterances=0)
    row = {
        "key": key,
        "arch_id": spec.arch_id,
        "spec": spec.to_dict(),
        "params": model.num_params(),
        "steps": state["step"],
        "epochs": result.epochs,
        "train_seconds": result.train_seconds,
        "wer": scores.wer,
        "cer": scores.cer,
        "dev_utts": scores.utterances,
        "checkpoint": str(result.last_checkpoint),
    }
    _write(cache, row)
    log.info("%s: WER %.1f%% after %d steps", spec.summary(), 100 * scores.wer, row["steps"])
    return row


# --- 5. latency --------------------------------------------------------------------------


def measure_all(setup: Setup, checkpoints: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Median latency (5 s of audio, batch 1) of every model, over alternating rounds."""
    ids = sorted(checkpoints)
    key = {"ids": ids, "repeats": setup.latency_repeats, "rounds": setup.latency_rounds}
    path = setup.root / "latency.json"
    cached = _cached(path, key)
    if cached is not None:
        return dict(cached["models"])
    models = {i: load_model(checkpoints[i])[0] for i in ids}
    latencies = compare_latency(
        models,
        rounds=setup.latency_rounds,
        audio_seconds=AUDIO_S,
        repeats=setup.latency_repeats,
        threads=THREADS,
    )
    out = {i: {"median_ms": latency.median_ms} for i, latency in latencies.items()}
    _write(path, {"key": key, "models": out})
    return out


# --- the run -----------------------------------------------------------------------------


def run(setup: Setup) -> dict[str, Any]:
    start = time.perf_counter()
    best_spec, demo = demo_best()  # first: fail before hours of work if the demo is missing
    manifests = demo_corpus()
    settings = dataclasses.replace(
        demo_search_config(DemoSettings(), manifests, DEMO).train, threads=THREADS
    )
    darts_train, darts_val, split = darts_split(manifests["train"], setup)
    table_path = latency_table(setup)
    table = LatencyTable.load(table_path)
    priced = targets(setup, table)
    runs = [
        run_darts(setup, t, (darts_train, darts_val), table_path, settings)
        for t in priced["targets"]
    ]
    entries: list[dict[str, Any]] = [
        {"model": f"DARTS {r['label']}", "kind": "darts", "spec": r["spec"], "darts": r["label"]}
        for r in runs
    ]
    entries += [
        {"model": name, "kind": "preset", "spec": PRESETS[name].to_dict()} for name in PRESET_ROWS
    ]
    entries.append(
        {
            "model": f"demo search best (trial {demo['trial']})",
            "kind": "search",
            "spec": best_spec.to_dict(),
        }
    )
    rows = []
    for entry in entries:
        spec = ArchSpec.from_dict(entry["spec"])
        trained = retrain(setup, spec, manifests["train"], manifests["dev"], settings)
        rows.append({**entry, **{k: v for k, v in trained.items() if k != "key"}})
    latency = measure_all(setup, {r["arch_id"]: r["checkpoint"] for r in rows})
    for row in rows:
        row["latency_ms"] = latency[row["arch_id"]]["median_ms"]
        row["summary"] = describe(ArchSpec.from_dict(row["spec"]))
    return {
        "setup": dataclasses.asdict(setup),
        "machine": cpu_name(),
        "torch": torch.__version__,
        "run": run_info(),
        "seconds": time.perf_counter() - start,
        "split": split,
        "settings": dataclasses.asdict(settings),
        "table": {"path": str(table_path), "models": len(table.models), **priced},
        "darts": runs,
        "demo": demo,
        "rows": rows,
    }


# --- the report --------------------------------------------------------------------------


def describe(spec: ArchSpec) -> str:
    """The one-line summary plus each layer's searched fields (``skip`` for the identity)."""
    used = active_layer_fields(spec.encoder)
    widths = {layer.width for layer in spec.kept_layers}

    def one(layer: LayerSpec) -> str:
        if layer.skip:
            return "skip"
        bits = [f"k{layer.kernel}"] if "kernel" in used else []
        if "ffn_expansion" in used:
            bits.append(f"ffn{layer.ffn_expansion:g}")
        if "heads" in used:
            bits.append(f"h{layer.heads}")
        if len(widths) > 1 or not bits:
            bits.append(f"w{layer.width}")
        return " ".join(bits)

    layers = [one(layer) for layer in spec.layers]
    detail = f"all {layers[0]}" if len(set(layers)) == 1 else "; ".join(layers)
    return f"{spec.summary()} [{detail}]"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _dominated_by(row: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """Models at least as good on dev WER and measured latency, better on one."""
    return [
        r["model"]
        for r in rows
        if r["arch_id"] != row["arch_id"]
        and r["wer"] <= row["wer"]
        and r["latency_ms"] <= row["latency_ms"]
        and (r["wer"] < row["wer"] or r["latency_ms"] < row["latency_ms"])
    ]


def findings(result: dict[str, Any]) -> list[str]:
    """What the numbers say, worded from the numbers only."""
    setup = result["setup"]
    rows = result["rows"]
    darts_rows = {r["darts"]: r for r in rows if r["kind"] == "darts"}
    lines = []
    for run_ in result["darts"]:
        row = darts_rows[run_["label"]]
        measured, target = row["latency_ms"], run_["target_ms"]
        verdict = (
            "within the target"
            if measured <= target
            else f"{measured - target:.1f} ms ({100 * (measured / target - 1):.0f}%) over it"
        )
        lines.append(
            f"At the {run_['label']} target ({target:.1f} ms) DARTS kept "
            f"{len(ArchSpec.from_dict(run_['spec']).kept_layers)} of {setup['positions']} layers; "
            f"the table estimated {run_['estimate_ms']:.1f} ms and the trained model measured "
            f"{measured:.1f} ms, {verdict}."
        )
    uniform = 1.0 / (len(setup["kernels"]) * len(setup["ffn_expansions"]) + 1)
    peaks = [p for r in result["darts"] for p in r["max_probs"]]
    steps = " and ".join(f"{r['steps']}" for r in result["darts"])
    same = sum(
        r["arch_id"] == ArchSpec.from_dict(r["most_likely"]).arch_id for r in result["darts"]
    )
    moved = (
        "alpha stayed close to uniform, so the choice within each target rests mostly on the "
        "latency table rather than on learned preferences"
        if statistics.mean(peaks) < 2 * uniform
        else "alpha formed clear preferences"
    )
    lines.append(
        f"In {steps} DARTS steps ({setup['darts_minutes']:g} min per target), the largest "
        f"softmax(alpha) weight per position was {min(peaks):.2f}-{max(peaks):.2f} (uniform: "
        f"{uniform:.2f}): {moved}. The extraction within the target equals the unconstrained "
        f"most likely architecture in {same} of {len(result['darts'])} runs."
    )
    ranked = sorted(rows, key=lambda r: r["wer"])
    best = ranked[0]
    search = next(r for r in rows if r["kind"] == "search")
    ranks = ", ".join(
        f"{r['model']} {_pct(r['wer'])} at {r['latency_ms']:.1f} ms (rank "
        f"{ranked.index(r) + 1} of {len(rows)})"
        for r in rows
        if r["kind"] == "darts"
    )
    lines.append(
        f"Lowest dev WER after the same {setup['retrain_minutes']:g}-minute retraining: "
        f"{best['model']} ({_pct(best['wer'])}, {best['latency_ms']:.1f} ms). {ranks}; the "
        f"demo search's best {_pct(search['wer'])} at {search['latency_ms']:.1f} ms."
    )
    dominated = {
        r["model"]: _dominated_by(r, rows) for r in rows if r["kind"] in ("darts", "search")
    }
    front = [r["model"] for r in rows if not _dominated_by(r, rows)]
    parts = [
        f"{name} is dominated by {', '.join(by)}" if by else f"{name} is on it"
        for name, by in dominated.items()
    ]
    steps_all = [r["steps"] for r in rows]
    lines.append(
        f"Front of dev WER vs measured latency: {', '.join(front)}; " + "; ".join(parts) + ". "
        f"Every model had the same wall-clock budget ({min(steps_all)}-{max(steps_all)} steps), "
        "so the cheaper ones took more steps: at this budget the WERs rank training speed as "
        "much as capacity."
    )
    return lines


def _flags(setup: dict[str, Any]) -> str:
    """The command-line flags that reproduce ``setup``."""
    if setup["quick"]:
        return "--quick"
    targets = (
        "--targets-ms " + " ".join(f"{ms:g}" for ms in setup["targets_ms"])
        if setup["targets_ms"]
        else "--percentiles " + " ".join(f"{q:g}" for q in setup["percentiles"])
    )
    return (
        f"--darts-minutes {setup['darts_minutes']:g} --retrain-minutes "
        f"{setup['retrain_minutes']:g} --table-specs {setup['table_specs']} {targets} "
        f"--penalty {setup['penalty']:g} --alpha-lr {setup['alpha_lr']:g} "
        f"--alpha-warmup-steps {setup.get('alpha_warmup_steps', 0)} "
        f"--darts-batch-seconds {setup['darts_batch_seconds']:g}"
    )


def section(result: dict[str, Any]) -> str:
    setup = result["setup"]
    table = result["table"]
    demo = result["demo"]
    darts = {r["label"]: r for r in result["darts"]}
    body = []
    for r in result["rows"]:
        run_ = darts.get(r.get("darts", ""))
        body.append(
            [
                r["model"],
                r["summary"],
                f"{run_['label']}: {run_['target_ms']:.1f} ms" if run_ else "-",
                f"{run_['estimate_ms']:.1f} ms" if run_ else "-",
                _pct(r["wer"]),
                _pct(r["cer"]),
                f"{r['params'] / 1e6:.2f} M",
                f"{r['latency_ms']:.1f} ms",
                r["steps"],
            ]
        )
    header = ["model", "architecture", "DARTS target", "table estimate", "dev WER", "dev CER"]
    header += ["params", "measured latency", "steps"]
    runs_body = [
        [
            r["label"],
            f"{r['target_ms']:.1f} ms",
            r["steps"],
            f"{r['seconds'] / 60:.1f} min",
            f"{r['expected_ms_first']:.1f} -> {r['expected_ms_last']:.1f} ms",
            f"{r['val_loss_first']:.0f} -> {r['val_loss_last']:.0f}",
            " ".join(f"{p:.2f}" for p in r["max_probs"]),
            f"{describe(ArchSpec.from_dict(r['most_likely']))}, "
            f"{r['most_likely_estimate_ms']:.1f} ms",
        ]
        for r in result["darts"]
    ]
    split = result["split"]
    schedule = result["settings"]
    search_min = (
        f" (its {demo['search_seconds'] / 60:.0f} min of trials)" if demo["search_seconds"] else ""
    )
    demo_dev = (
        f" In the demo's own {demo['epochs']}-epoch retraining it reached "
        f"{_pct(demo['dev']['wer'])} dev WER."
        if demo.get("dev")
        else ""
    )
    lines = [
        f"Measured on {result['machine']}, {THREADS} torch threads, torch {result['torch']}, "
        "on the demo's synthetic corpus. DARTS (first order, latency penalty "
        f"{setup['penalty']:g}/ms, alpha lr {setup['alpha_lr']:g} after "
        f"{setup.get('alpha_warmup_steps', 0)} weight-only steps, "
        f"{setup['darts_batch_seconds']:g} s batches, {setup['darts_minutes']:g} min per "
        f"target) searched {setup['positions']} positions of a width-{setup['width']} "
        "Conformer (logmel80, conv2d/4, rel attention, CTC), each a mix of Conformer layers "
        f"(kernel {'/'.join(map(str, setup['kernels']))}, FFN x"
        f"{'/'.join(f'{f:g}' for f in setup['ffn_expansions'])}, {setup['heads']} heads) and "
        f"the identity, training weights on {split['train_utts']} utterances "
        f"({split['train_speakers']} voices) of the demo's train split and alpha on the other "
        f"{split['val_utts']} ({split['val_speakers']} voices). Targets: "
        f"{'fixed' if setup['targets_ms'] else 'percentiles of the estimate'}, against a "
        f"{table['models']}-model latency table (cpu-torch, 5 s of audio) that puts the "
        f"{table['choices']} choices at {table['choice_ms_range'][0]:.1f}-"
        f"{table['choice_ms_range'][1]:.1f} ms; each architecture is the exact extraction "
        "within its target. Every model was then trained from scratch for "
        f"{setup['retrain_minutes']:g} min with the demo's settings "
        f"({schedule['batch_seconds']:g} s batches, AdamW lr {schedule['lr']:g}, "
        f"{schedule['warmup_steps']} warm-up steps) on the whole train split and decoded "
        "greedily on the demo's dev "
        "set (unseen voices) from its last checkpoint. Latency: median time to transcribe 5 s "
        "of audio at batch 1, measured in alternating rounds. The demo search's best is the "
        f"architecture of its full-training search{search_min}.{demo_dev}",
        "",
        markdown_table(header, body, left=3),
        "",
        "The DARTS runs (E[latency] under softmax(alpha), the validation loss, the largest "
        "weight per position at the end, and the most likely architecture without a target):",
        "",
        markdown_table(
            [
                "target",
                "ms",
                "steps",
                "time",
                "E[latency]",
                "val loss",
                "max weight per position",
                "most likely (table estimate)",
            ],
            runs_body,
            left=1,
        ),
        "",
        *(f"- {line}" for line in findings(result)),
        "",
        f"Reproduce: `.venv/bin/python benchmarks/darts_targets.py {_flags(setup)}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--darts-minutes", type=float, default=5.0, help="per DARTS run")
    parser.add_argument("--retrain-minutes", type=float, default=3.0, help="per model")
    parser.add_argument("--table-specs", type=int, default=32, help="latency table models")
    parser.add_argument("--percentiles", type=float, nargs="+", default=[30.0, 70.0])
    parser.add_argument("--targets-ms", type=float, nargs="+", default=None)
    parser.add_argument("--penalty", type=float, default=1.0, help="per ms of |E - target|")
    parser.add_argument("--alpha-lr", type=float, default=0.02)
    parser.add_argument("--alpha-warmup-steps", type=int, default=15)
    parser.add_argument("--darts-batch-seconds", type=float, default=40.0)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, no report")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(THREADS)
    setup = Setup.from_args(args)
    if args.report_only:
        result = json.loads((setup.root / "results.json" if setup.quick else RESULTS).read_text())
    else:
        setup.root.mkdir(parents=True, exist_ok=True)
        result = run(setup)
        _write(setup.root / "results.json", result)
        if not setup.quick:
            _write(RESULTS, result)
    text = section(result)
    if not setup.quick:
        update_section(
            REPO / "BENCHMARKS.md", "darts_targets", "DARTS at two latency targets", text
        )
    print(text)


if __name__ == "__main__":
    main()
