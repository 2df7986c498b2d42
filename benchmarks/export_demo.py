"""What ONNX export, INT8 and FP16 do to the demo's best model: size, CPU latency and WER.

Runs, from the repository root, after ``make demo`` (about two minutes):

    .venv/bin/python benchmarks/export_demo.py [--run runs/demo] [--threads 1 2]

Exports ``RUN/search/best.pt`` with :func:`speechnas.export.export_bundle` (FP32, dynamic
INT8, FP16) and scores PyTorch and each ONNX variant on the demo's dev and test sets (greedy),
with latency for 5 s of audio at batch 1 (median of 10 runs after 2 warm-up runs) at each
thread count. Writes the section "ONNX export of the demo model" of BENCHMARKS.md and
``benchmarks/results/export_demo.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from speechnas._provenance import cpu_name, run_info
from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest
from speechnas.export import export_bundle
from speechnas.reports import markdown_table, update_section
from speechnas.train import load_model

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "export_demo.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=str(REPO / "runs" / "demo"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    run = Path(args.run)
    checkpoint = run / "search" / "best.pt"
    if not checkpoint.is_file():
        raise SystemExit(f"{checkpoint} not found: run `make demo` first")
    model, tokenizer, state = load_model(checkpoint)
    spec = ArchSpec.from_dict(state["arch"])
    sets = {name: read_manifest(run / "corpus" / f"{name}.jsonl") for name in ("dev", "test")}
    reports: list[dict[str, Any]] = []
    for threads in args.threads:
        out = REPO / "runs" / "benchmarks" / "export_demo" / f"{threads}t"
        report = export_bundle(
            model,
            spec,
            tokenizer,
            out,
            precisions=("fp32", "int8", "fp16"),
            # WER does not depend on the thread count: score once.
            test_sets=sets if not reports else {},
            num_threads=threads,
        )
        reports.append(report.to_dict())
        print(json.dumps(report.to_dict()["variants"], indent=1))
    info = run_info()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"spec": spec.summary(), "reports": reports, "run_info": info}, indent=2)
    )
    first = reports[0]["variants"]
    shown = checkpoint.relative_to(REPO) if checkpoint.is_relative_to(REPO) else checkpoint
    header = ["variant", "size", "dev WER", "dev CER", "test WER", "test CER"]
    header += [f"latency {r['threads']}t" for r in reports]
    rows = []
    for i, v in enumerate(first):
        scores = v["scores"]
        rows.append(
            [
                v["name"],
                f"{v['size_mb']:.2f} MB",
                f"{100 * scores['dev']['wer']:.1f}%",
                f"{100 * scores['dev']['cer']:.1f}%",
                f"{100 * scores['test']['wer']:.1f}%",
                f"{100 * scores['test']['cer']:.1f}%",
                *(f"{r['variants'][i]['latency_ms']:.1f} ms" for r in reports),
            ]
        )
    text = "\n".join(
        [
            f"The demo's best model (`{spec.summary()}`, {model.num_params():,} params, "
            f"from `{shown}`) exported with `speechnas export`, on {cpu_name()}. Latency: 5 s "
            "of audio, batch 1, greedy, median of 10 runs; the ONNX rows run the front-end in "
            "PyTorch and the encoder and CTC head in ONNX Runtime "
            f"{info['versions'].get('onnxruntime') or ''}. WER/CER on the demo's synthetic dev "
            f"({len(sets['dev'])} utterances) and test ({len(sets['test'])}) sets.",
            "",
            markdown_table(header, rows),
            "",
            "Reproduce (after `make demo`): `.venv/bin/python benchmarks/export_demo.py`",
        ]
    )
    update_section(REPO / "BENCHMARKS.md", "export-demo", "ONNX export of the demo model", text)
    print(text)


if __name__ == "__main__":
    main()
