"""Latency prediction on held-out architectures: lookup table, learned predictor and FLOPs.

Runs, from the repository root (run nothing else heavy):

    .venv/bin/python benchmarks/latency_predictor.py [--train 300] [--test 120] \
        [--threads 1 2] [--target cpu-torch cpu-onnx cpu-onnx-int8]

About 10 minutes per thread count for cpu-torch. The ONNX targets export every model first
(tens of seconds each for the deep ones, once per model for all ONNX targets and thread
counts; the graphs are kept in ``runs/benchmarks/latency/graphs``), so their first run takes
hours.

For each target and thread count: a latency table is profiled part by part
(``Target.measure_parts``) on ``--train`` architectures sampled uniformly (seed 0) from the
default space with CTC heads, streaming and full-context; the learned predictor is fitted on
the same models. Then ``--test`` other architectures (seed 1, none in the training sample)
are measured whole (5 s of audio, batch 1: on cpu-torch as a search measures latency, the
lowest of 3 block medians of 10 runs; on the ONNX targets the median of 10 runs after 2
warm-up runs) and predicted three ways. Architectures a target cannot run (the exporter fails
for them) are left out of both sets and counted.

* table: the sum of the table's part latencies (unseen parts from their kind's fit);
* learned: LightGBM on the table sum and the spec's size features;
* FLOPs: a least-squares line of latency on MACs over the training models (the naive proxy).

Reported per target and predictor: the share of held-out models predicted within +-10% of
the measured latency (goal >= 95%), Kendall's tau between predicted and measured (goal >=
0.9), and the median absolute relative error; for the learned predictor, how often the
measured value fell inside its 10-90% band. Tables are kept in ``runs/benchmarks/latency``
(an interrupted run resumes); results in ``benchmarks/results/latency_predictor.json``, where
a run replaces the rows of the targets and thread counts it measured and keeps the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from speechnas._provenance import cpu_name, run_info
from speechnas.arch import ArchSpec
from speechnas.hardware import Target, TorchCPUTarget, make_target
from speechnas.hardware.lut import LatencyTable, Part
from speechnas.hardware.measure import untrained_model
from speechnas.hardware.predictor import LatencyPredictor
from speechnas.hardware.tables import sample_specs
from speechnas.recognizer import NotMeasurable
from speechnas.reports import markdown_table, update_section
from speechnas.space import SpeechSpace
from speechnas.timing import measure_latency, threads

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "runs" / "benchmarks" / "latency"
RESULTS = REPO / "benchmarks" / "results" / "latency_predictor.json"
BENCHMARKS = REPO / "BENCHMARKS.md"
SPACE = SpeechSpace(decoders=("ctc",), streaming="both")


def _space(max_layers: int | None) -> SpeechSpace:
    """The default CTC space, with at most ``max_layers`` layers when given."""
    return SPACE if max_layers is None else dataclasses.replace(SPACE, max_layers=max_layers)


AUDIO_S = 5.0
#: Cache files of PyTorch measurements taken with the search's block protocol are kept
#: apart from those taken before it.
_PROTOCOL_TAG = "-blocks"
LABELS = {
    "learned": "learned (LightGBM)",
    "table": "table sum",
    "flops": "FLOPs line",
    "remeasured": "re-measured (noise floor)",
}


def _measure_all(
    target: Target, train: list[ArchSpec], candidates: list[ArchSpec], n_test: int
) -> tuple[dict[str, Any], list[ArchSpec]]:
    """Measure every spec part by part, training and held-out ones interleaved.

    Interleaving makes both sets meet the same machine conditions (a shared CPU drifts by
    several percent over minutes). Held-out ``candidates`` are measured until ``n_test`` of
    them ran (a target may not run every one). A third of the held-out specs are measured a
    second time at the end: how far two measurements of one model differ is the floor under
    any predictor's error. Results are cached per spec in ``WORK`` (an interrupted run
    resumes); returns them and the held-out specs.
    """
    tag = _PROTOCOL_TAG if isinstance(target, TorchCPUTarget) else ""
    path = WORK / f"measured-{target.name}-{target.threads}t{tag}.json"
    done: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    ratio = max(1, len(train) // max(1, n_test))
    order: list[tuple[str, ArchSpec, bool]] = []
    tests = iter(candidates)
    for i, spec in enumerate(train):
        order.append((spec.arch_id, spec, False))
        if i % ratio == ratio - 1:
            nxt = next(tests, None)
            if nxt is not None:
                order.append((nxt.arch_id, nxt, True))
    order += [(s.arch_id, s, True) for s in tests]
    start = time.perf_counter()
    held_out: list[ArchSpec] = []

    def measure(key: str, spec: ArchSpec, whole: bool) -> None:
        if key not in done:
            model = untrained_model(spec)
            try:
                parts, ms, total = target.measure_parts(
                    model, spec, audio_s=AUDIO_S, workdir=_graphs(spec)
                )
            except NotMeasurable as e:
                done[key] = {"skipped": str(e)}
                return
            done[key] = {
                "parts": [[p.kind, p.signature, p.frames, p.macs] for p in parts],
                "ms": ms,
                "total": total,
                "macs": model.macs(AUDIO_S),
            }
            if whole and isinstance(target, TorchCPUTarget):
                # What a search measures (speechnas.timing.measure_latency): the truth.
                latency = measure_latency(model, audio_seconds=AUDIO_S, threads=target.threads)
                done[key]["latency"] = latency.median_ms
            if len(done) % 25 == 0:
                path.write_text(json.dumps(done))
                elapsed = time.perf_counter() - start
                print(f"  {target.name} {target.threads}t: {len(done)} measured ({elapsed:.0f} s)")

    with threads(target.threads):
        for key, spec, is_test in order:
            if is_test and len(held_out) >= n_test:
                continue
            measure(key, spec, is_test)
            if is_test and "skipped" not in done[key]:
                held_out.append(spec)
        for spec in held_out[: len(held_out) // 3]:
            measure(f"{spec.arch_id}:again", spec, True)
    path.write_text(json.dumps(done))
    return done, held_out


def _whole(measured: dict[str, Any]) -> float:
    """A held-out model's measured latency: as a search measures it where it was (PyTorch
    targets), else the median whole run of its part timing."""
    return float(measured.get("latency", measured["total"]))


def _graphs(spec: ArchSpec) -> Path:
    """Where a spec's exported graphs are kept (every ONNX target and thread count reuses
    them)."""
    out = WORK / "graphs" / spec.arch_id
    out.mkdir(parents=True, exist_ok=True)
    return out


def _scores(predicted: list[float], measured: list[float]) -> dict[str, float]:
    p, m = np.array(predicted), np.array(measured)
    rel = np.abs(p - m) / m
    return {
        "within_10pct": float(np.mean(rel <= 0.10)),
        "kendall_tau": float(kendalltau(p, m).statistic),
        "median_rel_error": float(np.median(rel)),
    }


def evaluate(
    name: str, threads_: int, n_train: int, n_test: int, max_layers: int | None = None
) -> dict[str, Any]:
    print(f"{name}, {threads_} thread(s): {n_train} training and {n_test} held-out models")
    target = make_target(name, threads_)
    space = _space(max_layers)
    train = sample_specs(space, n_train, seed=0)
    train_ids = {s.arch_id for s in train}
    # Spare candidates: a target may not run every architecture.
    pool = [s for s in sample_specs(space, 3 * n_test + 50, seed=1) if s.arch_id not in train_ids]
    measured, test = _measure_all(target, train, pool, n_test)
    repeat = test[: len(test) // 3]
    table = LatencyTable(target.describe(), AUDIO_S)
    skipped = [s for s in train if "skipped" in measured[s.arch_id]]
    train = [s for s in train if "skipped" not in measured[s.arch_id]]
    for spec in train:
        m = measured[spec.arch_id]
        parts = [Part(kind, sig, frames, macs) for kind, sig, frames, macs in m["parts"]]
        table.add(spec, parts, m["ms"], m["total"])
    table.save(WORK / f"{name}-{threads_}t.table.json")
    # How far the medians of the parts are from the median whole run (one run's parts add up
    # to it; medians of several runs need not): what a table sum starts from.
    coverage = [sum(measured[s.arch_id]["ms"]) / measured[s.arch_id]["total"] for s in train]
    start = time.perf_counter()
    predictor = LatencyPredictor(table)
    fit_s = time.perf_counter() - start
    # The naive proxy: latency = a + b * MACs, least squares over the training models.
    a = np.array([[1.0, measured[s.arch_id]["macs"]] for s in train])
    coef = np.linalg.lstsq(a, np.array([measured[s.arch_id]["total"] for s in train]))[0]
    truth, by_table, learned, flops, inside = [], [], [], [], 0
    start = time.perf_counter()
    for spec in test:
        m = measured[spec.arch_id]
        pred = predictor.predict(spec)
        truth.append(_whole(m))
        by_table.append(pred.table_ms)
        learned.append(pred.latency_ms)
        flops.append(max(0.1, float(coef[0] + coef[1] * m["macs"])))
        inside += pred.low_ms <= _whole(m) <= pred.high_ms
    predict_ms = 1000 * (time.perf_counter() - start) / len(test)
    again = [_whole(measured[f"{s.arch_id}:again"]) for s in repeat]
    first = [_whole(measured[s.arch_id]) for s in repeat]
    return {
        "protocol": "blocks" if "latency" in measured[test[0].arch_id] else "median-10",
        "target": table.target,
        "layers": f"{space.min_layers}-{space.max_layers}",
        "train_models": len(table.models),
        "part_signatures": len(table),
        "test_models": len(test),
        "measured_ms": {"min": min(truth), "median": statistics.median(truth), "max": max(truth)},
        "predictors": {
            "table": _scores(by_table, truth),
            "learned": _scores(learned, truth),
            "flops": _scores(flops, truth),
            "remeasured": _scores(again, first),
        },
        "remeasured_models": len(repeat),
        "skipped_models": len(skipped)
        + sum("skipped" in v for k, v in measured.items() if k not in train_ids),
        "learned_band_coverage": inside / len(test),
        # How the held-out latency (as a search times it) compares with the median whole run
        # of the same part timing the table is built from.
        "truth_over_part_run": statistics.median(
            _whole(measured[s.arch_id]) / measured[s.arch_id]["total"] for s in test
        ),
        "parts_over_whole": {
            "min": min(coverage),
            "median": statistics.median(coverage),
            "max": max(coverage),
        },
        "fit_s": fit_s,
        "predict_ms": predict_ms,
    }


def section(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    rows = []
    for r in results:
        name = f"{r['target']['target']}, {r['target']['threads']} thread(s)"
        name += ", *blocks*" if r.get("protocol") == "blocks" else ""
        for key, label in LABELS.items():
            s = r["predictors"][key]
            rows.append(
                [
                    name,
                    label,
                    f"{100 * s['within_10pct']:.0f}%",
                    f"{s['kendall_tau']:.3f}",
                    f"{100 * s['median_rel_error']:.1f}%",
                ]
            )
    header = ["target", "predictor", "within ±10%", "Kendall τ", "median error"]
    versions = info["versions"]
    # Each row's runtime version as its target recorded it (rows are rerun separately).
    ort = sorted(
        {
            str(r["target"].get("versions", {}).get("onnxruntime"))
            for r in results
            if r["target"]["runtime"].startswith("onnxruntime")
        }
    )
    runtime = f", onnxruntime {' and '.join(ort)} for the ONNX rows" if ort else ""
    lines = [
        f"Measured on {info['cpu']} (torch {versions['torch']}{runtime}). Held-out "
        "architectures drawn uniformly from the default space with CTC heads (streaming and "
        "full-context, widths 64-256; layers as listed below), none of them among the training "
        "models; "
        "latency = transcribing 5 s of audio at batch 1 (rows marked *blocks*: the lowest "
        "of 3 block medians of 10 runs, as a search measures it since the noise benchmark; "
        "the others: the median of 10 runs). Training and "
        "held-out models are measured interleaved, so both meet the same machine conditions. "
        "The last row of each target re-measures a third of the held-out models at the end "
        "of the run against their first measurement: the noise floor under every predictor. "
        "Goals: >= 95% within ±10%, τ >= 0.9.",
        "",
        markdown_table(header, rows, left=2),
        "",
    ]
    for r in results:
        m = r["measured_ms"]
        lines.append(
            f"- {r['target']['target']} {r['target']['threads']}t, "
            f"{r.get('layers', '2-12')} layers: table of "
            f"{r['train_models']} models ({r['part_signatures']} part signatures); "
            f"{r['test_models']} held-out models measuring {m['min']:.0f}-{m['max']:.0f} ms "
            f"(median {m['median']:.0f}); the learned 10-90% band held the measured value for "
            f"{100 * r['learned_band_coverage']:.0f}% of them; fit {r['fit_s']:.0f} s, "
            f"{r['predict_ms']:.0f} ms per prediction (it builds the untrained model)."
            + (
                f" {r['skipped_models']} sampled architectures could not run there (left out)."
                if r.get("skipped_models")
                else ""
            )
            + (
                " The held-out latencies (block protocol) were a median "
                f"{100 * r['truth_over_part_run']:.1f}% of the median whole run the table's "
                "part timing took of the same model."
                if "truth_over_part_run" in r and r.get("protocol") == "blocks"
                else ""
            )
            + (
                " On the training models the parts' medians summed to "
                f"{100 * r['parts_over_whole']['min']:.0f}-"
                f"{100 * r['parts_over_whole']['max']:.0f}% of the whole run's median "
                f"(median {100 * r['parts_over_whole']['median']:.0f}%)."
                if "parts_over_whole" in r
                else ""
            )
        )
    lines += [
        "",
        "Reproduce: `.venv/bin/python benchmarks/latency_predictor.py --target cpu-torch` "
        "(300 training and 120 held-out models, 1 and 2 threads, about 10 minutes per thread "
        "count) and `.venv/bin/python benchmarks/latency_predictor.py --target cpu-onnx "
        "cpu-onnx-int8 --threads 1 --train 40 --test 100 --max-layers 6` (about 70 minutes, "
        "almost all of it ONNX export).",
    ]
    return "\n".join(lines)


def _merged(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``results`` with the earlier rows of other targets and thread counts kept."""

    def key(r: dict[str, Any]) -> tuple[str, int]:
        return r["target"]["target"], r["target"]["threads"]

    fresh = {key(r) for r in results}
    earlier = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else []
    return [r for r in earlier if key(r) not in fresh] + results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--test", type=int, default=120)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--target", nargs="+", default=["cpu-torch"])
    parser.add_argument(
        "--max-layers", type=int, default=None, help="sample at most this many layers"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results = _merged(
        [
            evaluate(n, t, args.train, args.test, args.max_layers)
            for n in args.target
            for t in args.threads
        ]
    )
    info = run_info()
    info["cpu"] = cpu_name()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "run_info": info}, indent=2))
    text = section(results, info)
    update_section(BENCHMARKS, "latency-predictor", "Latency prediction", text)
    print(text)


if __name__ == "__main__":
    main()
