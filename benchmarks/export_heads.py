"""ONNX export of each head kind on a trained model: size, CPU latency and WER before and after.

Runs, from the repository root (about 15 minutes; run nothing else heavy meanwhile):

    .venv/bin/python benchmarks/export_heads.py [--presets conformer-ctc-s
        conformer-transducer-streaming transformer-aed] [--minutes 2] [--threads 1]

Needs the shared data (FSDD). Each preset is trained on FSDD as ``benchmarks/presets.py``
trains it (the same split, settings and cache folder, ``runs/benchmarks/presets/fsdd/``;
a checkpoint there is reused), then exported with :func:`speechnas.export.export_bundle`
in FP32 and dynamic INT8. PyTorch and every ONNX variant transcribe the dev speaker's 500
clips (greedy) and 5 s of audio for latency (batch 1, median of 10 runs after 2 warm-up
runs). The transducer and the attention decoder run their step graphs in the recogniser's
greedy loop (:mod:`speechnas.export.heads`). Writes the section "ONNX export by head kind"
of BENCHMARKS.md and ``benchmarks/results/export_heads.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The preset baselines' training, shared so that both benchmarks train the same models.
import presets as baselines  # noqa: E402

from speechnas._provenance import cpu_name, run_info  # noqa: E402
from speechnas.arch import ArchSpec  # noqa: E402
from speechnas.data.manifest import read_manifest  # noqa: E402
from speechnas.data.paths import default_data_root  # noqa: E402
from speechnas.export import export_bundle, head_graphs  # noqa: E402
from speechnas.reports import markdown_table, update_section  # noqa: E402
from speechnas.train import load_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "export_heads.json"
WORK = REPO / "runs" / "benchmarks" / "export_heads"
DATASET = "fsdd"
DEFAULT_PRESETS = ["conformer-ctc-s", "conformer-transducer-streaming", "transformer-aed"]


def _checkpoint(preset: str, minutes: float, split: tuple[Path, Path, list[Any]]) -> Path:
    """The preset trained on FSDD (trained now if its checkpoint is not there)."""
    best = baselines.OUT / DATASET / preset / "best.pt"
    if not best.is_file():
        baselines.run_one(DATASET, preset, *split, minutes)
    return best


def _head(spec: ArchSpec) -> str:
    d = spec.decoder
    if d.kind == "rnnt":
        return f"transducer, {d.predictor} predictor"
    if d.kind.startswith("aed"):
        return f"attention, {d.num_layers}-layer {d.kind.removeprefix('aed_')} decoder"
    return d.kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS)
    parser.add_argument("--minutes", type=float, default=2.0, help="training per preset")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    split = baselines._split(DATASET, default_data_root())
    sets = {"dev": read_manifest(split[1])}
    reports: list[dict[str, Any]] = []
    for preset in args.presets:
        model, tokenizer, state = load_model(_checkpoint(preset, args.minutes, split))
        spec = ArchSpec.from_dict(state["arch"])
        report = export_bundle(
            model,
            spec,
            tokenizer,
            WORK / preset,
            precisions=("fp32", "int8"),
            test_sets=sets,
            num_threads=args.threads,
        )
        reports.append(
            {
                "preset": preset,
                "spec": spec.summary(),
                "params": model.num_params(),
                "graphs": len(head_graphs(model).names),
                "head": _head(spec),
                **report.to_dict(),
            }
        )
        print(json.dumps(reports[-1]["variants"], indent=1))
    info = run_info()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"reports": reports, "run_info": info}, indent=2))
    header = ["preset", "head", "variant", "graphs", "size", "latency 5 s", "p90", "dev WER"]
    header.append("dev CER")
    rows = []
    for r in reports:
        for v in r["variants"]:
            scores = v["scores"]["dev"]
            rows.append(
                [
                    r["preset"],
                    r["head"],
                    v["name"],
                    "-" if v["path"] is None else str(r["graphs"]),
                    f"{v['size_mb']:.2f} MB",
                    f"{v['latency_ms']:.1f} ms",
                    f"{v['latency_p90_ms']:.1f} ms",
                    f"{100 * scores['wer']:.1f}%",
                    f"{100 * scores['cer']:.1f}%",
                ]
            )
    text = "\n".join(
        [
            f"Presets trained {args.minutes:g} min each on FSDD (as in the preset baselines), "
            f"exported with `speechnas export` and run on {cpu_name()}, {args.threads} "
            f"thread(s), ONNX Runtime {info['versions'].get('onnxruntime') or ''}. Latency: 5 s "
            "of audio, batch 1, greedy, median and p90 of 10 runs. ONNX rows: the front-end "
            "in PyTorch, the graphs in ONNX Runtime (a CTC model's one; a transducer's "
            "encoder, predictor step and joiner; an attention decoder's encoder and decoder "
            "step), and the greedy search in Python between graph runs. WER/CER on the "
            f"held-out speaker ({int(reports[0]['variants'][0]['scores']['dev']['utterances'])}"
            " clips).",
            "",
            markdown_table(header, rows, left=4),
            "",
            "Reproduce: `.venv/bin/python benchmarks/export_heads.py`",
        ]
    )
    update_section(REPO / "BENCHMARKS.md", "export-heads", "ONNX export by head kind", text)
    print(text)


if __name__ == "__main__":
    main()
