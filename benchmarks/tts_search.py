"""A TTS architecture search on LJSpeech against the FastSpeech-2-style preset.

Runs, from the repository root (after ``benchmarks/tts_ljspeech.py``, whose prepared corpus
and preset row it reuses):

    .venv/bin/python benchmarks/tts_search.py [--trials 10]

1. The search (``speechnas.search`` with a ``tts:`` task): the default TTS space
   (Transformer, convolution and separable-convolution blocks, widths 128-256, 2-4 encoder
   and decoder blocks, optional pitch and energy), TPE over objectives held-out MCD,
   intelligibility CER and CPU latency; each trial trains 200 steps, successive halving
   promotes the best third by MCD to 400 more (600 in all: the preset's budget). The 25
   held-out sentences and 10 heard by PocketSphinx are the preset's (seed 0).
2. Every front model exported to ONNX (:func:`speechnas.export.tts.export_tts`); then the
   front's exports and the preset's (and the hand-written LightSpeech shape's) timed side by
   side in one process at 1 thread, FP32 and INT8, on the longest held-out sentence (median
   of 7 after a warm-up), so every ratio compares figures taken under the same conditions.

The run lives in ``runs/benchmarks/tts-search`` (its database resumes an interrupted search;
the report with the listening page is in ``report/``); each exported model's figures are
written to ``benchmarks/results/tts_search.json`` as they finish. BENCHMARKS.md "TTS search
on LJSpeech".
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from speechnas._provenance import cpu_name
from speechnas.export.tts import OnnxSynthesizer, export_tts
from speechnas.reports import markdown_table, update_section
from speechnas.search.config import SearchConfig, search_config_from_dict
from speechnas.search.reporting import write_report
from speechnas.search.runner import open_store, run_search, summarise
from speechnas.search.store import TrialRecord
from speechnas.timing import time_calls
from speechnas.tts import TTSCorpus, TTSUtterance
from speechnas.tts.train import load_tts_checkpoint

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "runs" / "benchmarks" / "tts" / "corpus.pt"
PRESET = REPO / "benchmarks" / "results" / "tts_ljspeech.json"
RESULTS = REPO / "benchmarks" / "results" / "tts_search.json"
PRESET_KEY = "fastspeech2-style preset/600"
LIGHT_KEY = "lightspeech-style/600"
PRESET_EXPORTS = REPO / "runs" / "benchmarks" / "tts" / "export"


def side_by_side(folders: dict[str, Path], tokens: tuple[int, ...]) -> dict[str, dict[str, float]]:
    """Median ms of synthesising ``tokens`` with each export, FP32 and INT8, 1 thread."""
    out: dict[str, dict[str, float]] = {}
    for name, folder in folders.items():
        out[name] = {}
        for precision in ("fp32", "int8"):
            synth = OnnxSynthesizer(folder, precision, threads=1)
            timing = time_calls(lambda s=synth: s.synthesise(tokens), warmup=1, repeats=7)
            out[name][precision] = 1e3 * timing.median_s
    return out


def config(trials: int) -> SearchConfig:
    return search_config_from_dict(
        {
            "name": "tts-search",
            "out_root": str(REPO / "runs" / "benchmarks"),
            "tts": {"corpus": str(CORPUS), "held_out": 25, "intelligibility": 10, "threads": 2},
            "strategy": "tpe",
            "strategy_options": {"n_startup_trials": 5},
            "n_trials": trials,
            "seed": 0,
            "objectives": ["mcd_db", "intelligibility_cer", "latency_ms"],
            # How the recorded run timed latency (one median of 5), so it resumes as it ran.
            "latency_repeats": 5,
            "latency_blocks": 1,
            "fidelity": {
                "rungs": [{"fraction": 1, "steps": 200}, {"fraction": 1, "steps": 400}],
                "pruner": "successive_halving",
            },
        }
    )


def export_folder(record: TrialRecord) -> Path:
    return REPO / "runs" / "benchmarks" / "tts-search" / "export" / f"trial{record.number:04d}"


def exported(record: TrialRecord, sentence: TTSUtterance, held: dict[str, Any]) -> dict[str, Any]:
    """ONNX figures of a trial's last checkpoint on ``sentence`` (cached by trial number)."""
    key = str(record.number)
    if key in held:
        return dict(held[key])
    assert record.checkpoint is not None
    model, norm, _, _ = load_tts_checkpoint(record.checkpoint)
    out = export_tts(
        model,
        norm.mean,
        norm.std,
        export_folder(record),
        check_tokens=sentence.tokens,
        threads=1,
    )
    return {
        "onnx": {v.name: v.latency_ms for v in out.variants},
        "onnx_torch_1t_ms": out.pytorch_latency_ms,
    }


def section(results: dict[str, Any]) -> str:
    preset, light, timed = results["preset"], results["lightspeech"], results["retimed"]
    base = timed["preset"]

    def row(name: str, m: dict[str, Any], steps: str, key: str, verdict: str) -> list[str]:
        t = timed[key]
        return [
            name,
            m["summary"],
            steps,
            f"{m['params'] / 1e6:.2f}M",
            f"{m['mcd_db']:.2f}",
            f"{100 * m['cer']:.0f}%",
            f"{t['fp32']:.0f} / {t['int8']:.0f}",
            f"{preset['params'] / m['params']:.1f}x / {base['fp32'] / t['fp32']:.1f}x",
            verdict,
        ]

    rows = [
        row("fastspeech2-style preset", preset, "600 in one run", "preset", "-"),
        row("lightspeech-style (hand-written)", light, "600 in one run", "lightspeech", "-"),
    ]
    goal = []
    for m in results["front"]:
        smaller = preset["params"] / m["params"]
        faster = base["fp32"] / timed[str(m["trial"])]["fp32"]
        meets = (
            max(smaller, faster) >= 3
            and m["mcd_db"] <= preset["mcd_db"]
            and m["cer"] <= preset["cer"]
        )
        if meets:
            goal.append(m["trial"])
        verdict = "yes" if meets else "no"
        rows.append(row(f"searched: trial {m['trial']}", m, "200 + 400", str(m["trial"]), verdict))
    s = results["search"]
    return "\n".join(
        [
            f"Measured on {results['cpu']}, torch {results['torch']}. The TTS task of the "
            f"search loop (`tts:` in the search config) on the LJSpeech corpus of the section "
            f"above: {s['trials']} trials of TPE over the default TTS space "
            f"({s['space_count']:.2g} models: Transformer, convolution and separable-"
            "convolution blocks, widths 128-256, 2-4 encoder and decoder blocks, optional "
            "pitch and energy), objectives held-out MCD, intelligibility CER and CPU latency; "
            "each trial trains 200 steps, successive halving promotes the best third by MCD "
            "to 400 more steps from its weights (600 in all, the preset's budget). Held-out "
            "sentences and PocketSphinx intelligibility are the preset's; the ONNX exports "
            "of all rows were timed side by side in one process (1 thread, the longest "
            "held-out sentence, median of 7). "
            f"{s['complete']} trials reached 600 steps, {s['stopped']} stopped at "
            f"200; the search trained for {s['train_cpu_h']:.1f} h of wall-clock training "
            f"({s['wall_h']:.1f} h in all). The front (MCD, intelligibility CER, latency), "
            "each model from its trial's last checkpoint:",
            "",
            markdown_table(
                [
                    "model",
                    "architecture",
                    "steps",
                    "params",
                    "MCD dB",
                    "intelligibility CER",
                    "ONNX 1 thread FP32 / INT8 ms",
                    "smaller / faster (ONNX) than the preset",
                    ">= 3x at no worse MCD and CER",
                ],
                rows,
                left=2,
            ),
            "",
            (
                f"Goal (a searched model >= 3x smaller or faster at no worse MCD and "
                f"intelligibility CER): met by trial(s) {', '.join(map(str, goal))}."
                if goal
                else "Goal (a searched model >= 3x smaller or faster at no worse MCD and "
                "intelligibility CER): not met by any front model."
            ),
            "",
            "Reproduce: `.venv/bin/python benchmarks/tts_search.py` (resumes; report and "
            "listening page in `runs/benchmarks/tts-search/report`).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    if not CORPUS.exists() or not PRESET.exists():
        raise SystemExit("run benchmarks/tts_ljspeech.py first (its corpus and preset row)")
    cfg = config(args.trials)
    start = time.perf_counter()
    run_search(cfg)
    records = open_store(cfg, for_search=False).records()
    summary = summarise(records, cfg.objectives)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    held = results.setdefault("exports", {})
    _, held_out = TTSCorpus.load(CORPUS).split(25, seed=0)
    sentence = max(held_out, key=lambda u: len(u.tokens))
    for r in summary.front:
        held[str(r.number)] = exported(r, sentence, held)
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    preset = json.loads(PRESET.read_text())["models"][PRESET_KEY]
    assert cfg.tts is not None
    results.update(
        cpu=cpu_name(),
        torch=torch.__version__,
        preset=preset,
        search={
            "trials": len(records),
            "space_count": cfg.tts.space.count(),
            "complete": sum(r.state == "COMPLETE" for r in records),
            "stopped": sum(r.state == "PRUNED" for r in records),
            "train_cpu_h": sum(r.train_seconds for r in records) / 3600,
            "wall_h": results.get("search", {}).get("wall_h", 0.0)
            + (time.perf_counter() - start) / 3600,
        },
        front=[
            {
                "trial": r.number,
                "summary": r.spec.summary() if r.spec else "",
                "params": r.metrics["params"],
                "mcd_db": r.metrics["mcd_db"],
                "mel_l1": r.metrics["mel_l1"],
                "cer": r.metrics["intelligibility_cer"],
                "latency_ms": r.metrics["latency_ms"],
                **held[str(r.number)],
            }
            for r in sorted(summary.front, key=lambda r: r.metrics["mcd_db"])
        ],
    )
    folders = {
        "preset": PRESET_EXPORTS / "fastspeech2-style-preset-600",
        "lightspeech": PRESET_EXPORTS / "lightspeech-style-600",
        **{str(r.number): export_folder(r) for r in summary.front},
    }
    results["lightspeech"] = json.loads(PRESET.read_text())["models"][LIGHT_KEY]
    results["retimed"] = side_by_side(folders, sentence.tokens)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"report: {write_report(cfg)}")
    text = section(results)
    update_section(REPO / "BENCHMARKS.md", "tts-search", "TTS search on LJSpeech", text)
    print(text)


if __name__ == "__main__":
    main()
