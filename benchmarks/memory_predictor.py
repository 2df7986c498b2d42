"""Inference memory on held-out architectures: the analytic estimate against the fitted model.

Runs, from the repository root (each model is measured in a fresh process, about 4-5 s
each; about 15 minutes in all on two cores):

    nice -n 10 .venv/bin/python benchmarks/memory_predictor.py [--train 60] [--test 100]

``--train`` architectures (seed 0) and ``--test`` others (seed 1, none in the training
sample) are drawn uniformly from the default space, streaming and full-context, and their
inference memory is measured (:func:`~speechnas.hardware.memory.measure_peak_memory`: 5 s of
audio, batch 1, one thread; weights plus the peak resident memory that one transcription adds).
Training and held-out models are measured interleaved, and a fifth of the held-out models
are measured again at the end (the noise floor). A memory model is fitted on the training
models, and the held-out ones are predicted two ways:

* analytic: ``params * 4 + activation_bytes``, the estimate the search reports without a
  memory table;
* fitted: :class:`~speechnas.hardware.memory.MemoryModel`.

Reported: the share within +-10% of the measured memory, Kendall's tau, the median absolute
relative error, and how often the measured value fell inside the fitted 10-90% band.
Measurements are kept in ``runs/benchmarks/memory`` (an interrupted run resumes); results
in ``benchmarks/results/memory_predictor.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from speechnas._provenance import run_info
from speechnas.arch import ArchSpec
from speechnas.hardware.memory import MemoryModel, MemoryRecord, measure_peak_memory
from speechnas.hardware.tables import sample_specs
from speechnas.reports import markdown_table, update_section
from speechnas.space import SpeechSpace

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "runs" / "benchmarks" / "memory"
RESULTS = REPO / "benchmarks" / "results" / "memory_predictor.json"
SPACE = SpeechSpace(streaming="both")
AUDIO_S = 5.0
THREADS = 1
LABELS = {
    "analytic": "analytic (params·4 + activation_bytes)",
    "fitted": "fitted memory model",
    "remeasured": "re-measured (noise floor)",
}


def _measure_all(
    train: list[ArchSpec], test: list[ArchSpec], repeat: list[ArchSpec]
) -> dict[str, MemoryRecord]:
    """Measure every spec, training and held-out interleaved, cached in ``WORK``.

    ``repeat`` specs are measured a second time at the end (keys ``<arch_id>:again``).
    """
    path = WORK / "measured.json"
    raw: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    # Evenly interleaved: the i-th of n models goes at position i / n.
    placed = [(i / len(train), 0, s) for i, s in enumerate(train)]
    placed += [(i / len(test), 1, s) for i, s in enumerate(test)]
    order = [(s.arch_id, s) for _, _, s in sorted(placed, key=lambda p: (p[0], p[1]))]
    order += [(f"{s.arch_id}:again", s) for s in repeat]
    start = time.perf_counter()
    for n, (key, spec) in enumerate(order):
        if key in raw:
            continue
        raw[key] = measure_peak_memory(spec, AUDIO_S, THREADS).to_dict()
        if (n + 1) % 10 == 0:
            path.write_text(json.dumps(raw))
            print(f"  {n + 1}/{len(order)} measured ({time.perf_counter() - start:.0f} s)")
    path.write_text(json.dumps(raw))
    return {key: MemoryRecord.from_dict(value) for key, value in raw.items()}


def _scores(predicted: list[float], measured: list[float]) -> dict[str, float]:
    from scipy.stats import kendalltau

    p, m = np.array(predicted), np.array(measured)
    rel = np.abs(p - m) / m
    return {
        "within_10pct": float(np.mean(rel <= 0.10)),
        "kendall_tau": float(kendalltau(p, m).statistic),
        "median_rel_error": float(np.median(rel)),
    }


def evaluate(n_train: int, n_test: int) -> dict[str, Any]:
    print(f"{n_train} training and {n_test} held-out models, {AUDIO_S:g} s, {THREADS} thread")
    train = sample_specs(SPACE, n_train, seed=0)
    train_ids = {s.arch_id for s in train}
    test = [s for s in sample_specs(SPACE, n_test + 50, seed=1) if s.arch_id not in train_ids]
    test = test[:n_test]
    repeat = test[: n_test // 5]
    measured = _measure_all(train, test, repeat)
    memory = MemoryModel(AUDIO_S, THREADS)
    for spec in train:
        memory.add(measured[spec.arch_id])
    memory.save(WORK / f"memory-cpu-{THREADS}t.json")
    truth, analytic, fitted, inside = [], [], [], 0
    for spec in test:
        r = measured[spec.arch_id]
        pred = memory.predict_from(r.weights_mb, r.activation_mb)
        truth.append(r.memory_mb)
        analytic.append(r.analytic_mb)
        fitted.append(pred.memory_mb)
        inside += pred.low_mb <= r.memory_mb <= pred.high_mb
    again = [measured[f"{s.arch_id}:again"].memory_mb for s in repeat]
    first = [measured[s.arch_id].memory_mb for s in repeat]
    inference = [measured[s.arch_id].inference_mb for s in test]
    a, b, c = memory.coefficients
    families = collections.Counter(f"{s.encoder}/{s.decoder.kind}" for s in test)
    return {
        "test_families": dict(families.most_common()),
        "train_models": len(train),
        "test_models": len(test),
        "remeasured_models": len(repeat),
        "measured_mb": {"min": min(truth), "median": statistics.median(truth), "max": max(truth)},
        "weights_share_median": statistics.median(
            [measured[s.arch_id].weights_mb / measured[s.arch_id].memory_mb for s in test]
        ),
        "inference_mb": {
            "min": min(inference),
            "median": statistics.median(inference),
            "max": max(inference),
        },
        "analytic_over_measured_median": statistics.median(
            [p / t for p, t in zip(analytic, truth, strict=True)]
        ),
        "predictors": {
            "analytic": _scores(analytic, truth),
            "fitted": _scores(fitted, truth),
            "remeasured": _scores(again, first),
        },
        "fitted_band_coverage": inside / len(test),
        "coefficients": {"a_mb": a, "b_weights": b, "c_activations": c},
    }


def section(r: dict[str, Any], info: dict[str, Any]) -> str:
    rows = []
    for key, label in LABELS.items():
        s = r["predictors"][key]
        rows.append(
            [
                label,
                f"{100 * s['within_10pct']:.0f}%",
                f"{s['kendall_tau']:.3f}",
                f"{100 * s['median_rel_error']:.1f}%",
            ]
        )
    header = ["estimate", "within ±10%", "Kendall τ", "median error"]
    m, inf, k = r["measured_mb"], r["inference_mb"], r["coefficients"]
    fitted, floor = r["predictors"]["fitted"], r["predictors"]["remeasured"]
    met = fitted["within_10pct"] >= 0.95 and fitted["kendall_tau"] >= 0.9
    verdict = (
        "met"
        if met
        else (
            f"not met by the fitted model ({100 * fitted['within_10pct']:.0f}%, "
            f"τ {fitted['kendall_tau']:.3f}); re-measuring the same model reaches τ "
            f"{floor['kendall_tau']:.3f} only, so measurement noise alone costs some rank "
            "agreement among models of nearly equal memory"
        )
    )
    lines = [
        f"Measured on {info['cpu']} (torch {info['versions']['torch']}), 1 thread. "
        f"{r['test_models']} held-out architectures drawn uniformly from the default space "
        "(every family and head, streaming and full-context), none among the "
        f"{r['train_models']} the memory model was fitted on. Measured memory = float32 "
        "weights + what one greedy transcription of 5 s of audio (batch 1) adds to the peak "
        "resident memory of a fresh process, after a 0.5 s warm-up. The last row re-measures "
        f"{r['remeasured_models']} held-out models at the end of the run against their first "
        "measurement: the noise floor.",
        "",
        markdown_table(header, rows),
        "",
        f"- Held-out models measure {m['min']:.1f}-{m['max']:.1f} MB (median {m['median']:.1f}); "
        f"of that, inference adds {inf['min']:.1f}-{inf['max']:.1f} MB (median "
        f"{inf['median']:.1f}). The analytic estimate is {r['analytic_over_measured_median']:.2f}"
        f" times the measured value at the median. Weights are "
        f"{100 * r['weights_share_median']:.0f}% of the measured memory at the median and both "
        "estimates count them exactly, which is why both rank models about equally well.",
        f"- Fitted: memory = {k['a_mb']:.2f} MB + {k['b_weights']:.3f} × weights + "
        f"{k['c_activations']:.3f} × analytic activations; its 10-90% band held the measured "
        f"value for {100 * r['fitted_band_coverage']:.0f}% of the held-out models.",
        "- Held-out encoder/head mix: "
        + ", ".join(f"{k} {n}" for k, n in r["test_families"].items())
        + ". Uniform sampling over distinct architectures draws deep conformers almost only "
        "(they make up most of the space's count); families absent here are not covered.",
        f"- Against the latency predictor's goals (>= 95% within ±10%, τ >= 0.9): {verdict}.",
        "",
        "Reproduce: `nice -n 10 .venv/bin/python benchmarks/memory_predictor.py`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--train", type=int, default=60)
    parser.add_argument("--test", type=int, default=100)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    result = evaluate(args.train, args.test)
    info = run_info()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"result": result, "run_info": info}, indent=2))
    text = section(result, info)
    update_section(REPO / "BENCHMARKS.md", "memory-predictor", "Memory prediction", text)
    print(text)


if __name__ == "__main__":
    main()
