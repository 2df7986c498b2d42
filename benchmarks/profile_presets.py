"""Measured latency of every preset on every target this machine has, as `speechnas profile`.

Runs, from the repository root (about eight minutes; run nothing else heavy meanwhile):

    .venv/bin/python benchmarks/profile_presets.py [--threads 1 2] [--repeats 10]

Untrained presets (latency does not depend on the weights; the attention decoder's and the
transducer's greedy loops are the exception, see below) are measured on PyTorch eager and on
ONNX Runtime in FP32 and INT8 (a transducer's or attention decoder's step graphs run in a
greedy loop in Python, see :mod:`speechnas.export.heads`), for whole utterances of 1, 5 and
20 s, batch 1, median of ``--repeats`` runs after 2 warm-up runs. The streaming preset is also
fed chunk by chunk.
Writes the section "Measured latency by target" of BENCHMARKS.md and
``benchmarks/results/profile_presets.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from speechnas._provenance import cpu_name, run_info
from speechnas.hardware import make_target, profile_model
from speechnas.hardware.measure import untrained_model
from speechnas.presets import PRESETS
from speechnas.reports import markdown_table, update_section

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "profile_presets.json"
WORK = REPO / "runs" / "benchmarks" / "profile_presets"
LENGTHS = (1.0, 5.0, 20.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    profiles: list[dict[str, Any]] = []
    failures: list[str] = []
    for name, spec in PRESETS.items():
        targets = ["cpu-torch", "cpu-onnx", "cpu-onnx-int8"]
        for threads in args.threads:
            for target_name in targets:
                model = untrained_model(spec)
                # Exported graphs are kept, so that a failure can be looked into.
                workdir = WORK / f"{name}-{target_name}-{threads}t"
                workdir.mkdir(parents=True, exist_ok=True)
                try:
                    p = profile_model(
                        model,
                        spec,
                        make_target(target_name, threads),
                        lengths_s=LENGTHS,
                        repeats=args.repeats,
                        workdir=workdir,
                    )
                except Exception as e:  # reported in the table, not hidden
                    failures.append(f"{name} on {target_name}, {threads} thread(s): {e}")
                    print("FAILED", failures[-1])
                    continue
                record = {"preset": name, **p.to_dict()}
                profiles.append(record)
                print(name, target_name, threads, [round(u.median_ms, 1) for u in p.utterances])
    info = run_info()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"profiles": profiles, "failures": failures, "run_info": info}, indent=2)
    )
    rows = []
    for p in profiles:
        t = p["target"]
        cells = [f"{u['median_ms']:.1f} / {u['p90_ms']:.1f}" for u in p["utterances"]]
        rows.append([p["preset"], t["target"], str(t["threads"]), *cells])
    header = ["preset", "target", "threads", *(f"{s:g} s: median / p90 ms" for s in LENGTHS)]
    stream_lines = []
    for p in profiles:
        c = p["streaming"]
        if c is None:
            continue
        stream_lines.append(
            f"- `{p['preset']}` on {p['target']['target']}, {p['target']['threads']} "
            f"thread(s), fed {c['chunk_ms']:.0f} ms chunks: {c['compute_median_ms']:.1f} ms "
            f"median / {c['compute_p90_ms']:.1f} ms p90 compute per chunk (RTF "
            f"{c['rtf']:.3f}); with {c['algorithmic_ms']:.0f} ms algorithmic latency, "
            f"{c['latency_ms']:.0f} ms from the end of a chunk's speech to its tokens."
        )
    text = "\n".join(
        [
            f"Untrained presets on {cpu_name()}, torch {info['versions']['torch']}, ONNX "
            f"Runtime {info['versions'].get('onnxruntime')}; batch 1, greedy, {args.repeats} "
            "timed runs after 2 warm-up runs. ONNX rows run the front-end in PyTorch and the "
            "graphs in ONNX Runtime: a CTC model's encoder and head; a transducer's encoder, "
            "predictor step and joiner, or an attention decoder's encoder and decoder step, "
            "with the greedy loop in Python between the graph runs. The untrained "
            "`transformer-aed` runs its "
            "decoder to the length cap and the untrained transducer emits at random, so their "
            "rows are upper bounds of a trained model's.",
            "",
            markdown_table(header, rows, left=3),
            "",
            *stream_lines,
            *(f"- Failed: {f}" for f in failures),
            "",
            "Reproduce: `.venv/bin/python benchmarks/profile_presets.py`",
        ]
    )
    update_section(REPO / "BENCHMARKS.md", "profile-presets", "Measured latency by target", text)
    print(text)


if __name__ == "__main__":
    main()
