"""TTS on LJSpeech, end to end on this CPU: aligner, corpus, a FastSpeech-2-style preset and
a LightSpeech-style small model at equal steps, scored on held-out sentences.

Runs, from the repository root:

    .venv/bin/python benchmarks/tts_ljspeech.py [--aligner-steps 1000] [--steps 600]

1. ``../shared/data/ljspeech`` read as a canonical manifest (NeMo format).
2. The aligner (:func:`speechnas.tts.aligner.train_aligner`: a Conformer-CTC over
   characters) trained on all 385 recordings; its own greedy CER on them says how well it
   knows the voice.
3. The corpus (:func:`speechnas.tts.align_corpus`): mels, forced-alignment durations,
   per-token pitch and energy.
4. 25 held-out sentences (seed 0); each model trained on the rest for ``--steps`` steps with
   the same settings, then scored from text alone: MCD, mel L1, length error, and on 10 of the
   sentences the PocketSphinx CER of its Griffin-Lim audio beside the recordings' own
   Griffin-Lim floor. Latency: synthesising a held-out sentence's mel (median of 5, batch 1).

A listening page (``runs/benchmarks/tts/listen/index.html``) plays 5 held-out sentences as
recorded and as each exported model synthesises them, all through the same Griffin-Lim.
Every stage is cached under ``runs/benchmarks/tts`` and each model's row is written to
``benchmarks/results/tts_ljspeech.json`` as it finishes (an interrupted run resumes).
BENCHMARKS.md "TTS on LJSpeech".
"""

from __future__ import annotations

# isort: off
import speechnas  # noqa: F401  (before torch is loaded: its OpenMP settings)
# isort: on

import argparse
import functools
import json
import time
from pathlib import Path
from typing import Any

import torch

from speechnas._provenance import cpu_name
from speechnas.arch.tts import TTSSpec
from speechnas.data.paths import default_data_root
from speechnas.data.prepare import prepare
from speechnas.evaluate.wer import error_rates
from speechnas.export.tts import OnnxSynthesizer, export_tts
from speechnas.presets import tts_preset
from speechnas.reports import markdown_table, update_section
from speechnas.timing import threads, time_calls
from speechnas.train import load_model
from speechnas.tts import TTSCorpus, align_corpus, tts_text, variance_stats
from speechnas.tts.aligner import train_aligner
from speechnas.tts.listen import write_listening_page
from speechnas.tts.score import score_tts, synthesise
from speechnas.tts.train import TTSTrainSettings, train_tts

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "runs" / "benchmarks" / "tts"
RESULTS = REPO / "benchmarks" / "results" / "tts_ljspeech.json"

#: The models compared, by the name the table shows: the presets of :data:`TTS_PRESETS`.
MODELS: dict[str, TTSSpec] = {
    "fastspeech2-style preset": tts_preset("fastspeech2"),
    "lightspeech-style": tts_preset("lightspeech"),
}

#: Threads of the 2-thread latency column (the 1-thread figures are the export's).
THREADS = 2


def corpus(args: argparse.Namespace) -> tuple[TTSCorpus, dict[str, Any]]:
    path = WORK / "corpus.pt"
    info_path = WORK / "aligner.json"
    if path.exists() and info_path.exists():
        return TTSCorpus.load(path), json.loads(info_path.read_text())
    manifest = prepare(Path(args.data) / "ljspeech", WORK / "ljspeech.jsonl.gz", format="nemo")
    start = time.process_time()
    ckpt = train_aligner(
        WORK / "ljspeech.jsonl.gz", WORK / "aligner", steps=args.aligner_steps, progress=False
    )
    aligner, tokenizer, _ = load_model(ckpt)
    heard, refs = [], []
    with torch.no_grad():
        from speechnas.data.audio import load_audio

        for u in manifest[:50]:
            wave = torch.as_tensor(load_audio(u.audio_path))[None]
            ids = aligner.transcribe_ids(wave, torch.tensor([wave.shape[1]]))[0]
            heard.append(tokenizer.decode(ids))
            refs.append(tts_text(u.text))
    prepared = align_corpus(manifest, aligner, tokenizer)
    prepared.save(path)
    info = {
        "steps": args.aligner_steps,
        "cer_on_50": error_rates(refs, heard, "en").cer,
        "cpu_seconds": time.process_time() - start,
        "utterances": len(prepared),
        "skipped": len(prepared.skipped),
    }
    info_path.write_text(json.dumps(info, indent=1))
    return prepared, info


def latency_ms(result: Any, tokens: tuple[int, ...]) -> float:
    with threads(THREADS):
        call = functools.partial(synthesise, result.model, result.norm, tokens)
        return 1e3 * time_calls(call, warmup=1, repeats=5).median_s


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _log(name: str, step: int, row: dict[str, float]) -> None:
    print(f"{name} step {step}: " + " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    prepared, info = corpus(args)
    results["aligner"] = info
    results["info"] = {"cpu": cpu_name(), "torch": torch.__version__, "steps": args.steps}
    train, held_out = prepared.split(25, seed=0)
    settings = TTSTrainSettings(steps=args.steps, seed=0)
    for name, spec in MODELS.items():
        key = f"{name}/{args.steps}"
        if key in results.get("models", {}):
            continue
        start = time.process_time()
        result = train_tts(
            spec,
            train,
            vocab_size=prepared.tokenizer.vocab_size,
            stats=variance_stats(train),
            settings=settings,
            on_step=functools.partial(_log, name),
        )
        cpu = time.process_time() - start
        scores = score_tts(result.model, result.norm, held_out, intelligibility_count=10)
        sentence = max(held_out, key=lambda u: len(u.tokens))
        exported = export_tts(
            result.model,
            result.norm.mean,
            result.norm.std,
            WORK / "export" / f"{_slug(name)}-{args.steps}",
            check_tokens=sentence.tokens,
            threads=1,
        )
        results.setdefault("models", {})[key] = {
            "onnx": {v.name: v.latency_ms for v in exported.variants},
            "onnx_torch_1t_ms": exported.pytorch_latency_ms,
            "spec": spec.to_dict(),
            "summary": spec.summary(),
            "params": sum(p.numel() for p in result.model.parameters()),
            "train_cpu_s": cpu,
            "latency_ms": latency_ms(result, sentence.tokens),
            "latency_audio_s": sentence.mel.shape[0] / 100.0,
            "final_loss": result.curve[-1],
            **scores.to_dict(),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True, default=list) + "\n")
        print(name, results["models"][key], flush=True)
    return results


def listening_page(args: argparse.Namespace) -> Path:
    """The held-out sentences heard through each exported model (FP32 ONNX)."""
    prepared, _ = corpus(args)
    _, held_out = prepared.split(25, seed=0)
    models = {
        name: OnnxSynthesizer(WORK / "export" / f"{_slug(name)}-{args.steps}").synthesise
        for name in MODELS
        if (WORK / "export" / f"{_slug(name)}-{args.steps}" / "text.onnx").exists()
    }
    return write_listening_page(
        WORK / "listen", held_out[:5], models, title="TTS on LJSpeech: held-out sentences"
    )


def section(results: dict[str, Any]) -> str:
    a, info = results["aligner"], results["info"]
    rows = [
        [
            key.split("/")[0],
            m["summary"],
            key.split("/")[1],
            f"{m['params'] / 1e6:.2f}M",
            f"{m['train_cpu_s'] / 60:.0f}",
            f"{m['mcd_db']:.2f}",
            f"{m['mel_l1']:.3f}",
            f"{100 * m['length_error']:.0f}%",
            "-" if m["cer"] is None else f"{100 * m['cer']:.0f}%",
            "-" if m["floor_cer"] is None else f"{100 * m['floor_cer']:.0f}%",
            f"{m['latency_ms']:.0f} ({m['latency_audio_s']:.1f} s)",
            f"{m['onnx_torch_1t_ms']:.0f} / {m['onnx']['onnx-fp32']:.0f} / "
            f"{m['onnx']['onnx-int8']:.0f}",
        ]
        for key, m in sorted(results.get("models", {}).items())
    ]
    return "\n".join(
        [
            f"Measured on {info['cpu']}, torch {info['torch']}. LJSpeech as shipped in "
            f"`../shared/data/ljspeech` ({a['utterances']} recordings prepared, "
            f"{a['skipped']} skipped), 16 kHz, 80 log-mel bands every 10 ms; text as "
            "characters. Durations from forced alignment with a Conformer-CTC "
            f"(`conformer-ctc-xs`) trained here for {a['steps']} steps on the same "
            f"recordings ({a['cpu_seconds'] / 60:.0f} CPU-min; greedy CER "
            f"{100 * a['cer_on_50']:.0f}% on 50 of them: the forced alignment only has to "
            "place known characters). 25 sentences held out (seed 0); each model trained "
            "on the rest with the same settings (AdamW 1e-3, batches of 60 s, warm-up and "
            "cosine), then scored from the text alone (predicted durations, pitch, energy). "
            "Intelligibility: PocketSphinx (its bundled US English model, independent of "
            "our models) on Griffin-Lim audio of 10 held-out sentences; the floor is the "
            "recordings through the same Griffin-Lim. Pitch and energy are normalised by the "
            "training sentences' statistics. Latency: one forward pass (text to mel) of the "
            f"longest held-out sentence, median of 5, batch 1, on {THREADS} threads; then the "
            "same at 1 thread in PyTorch and as the ONNX export (`speechnas.export.tts`: two "
            "graphs with the length regulator between them) in FP32 and dynamic INT8.",
            "",
            markdown_table(
                [
                    "model",
                    "architecture",
                    "steps",
                    "params",
                    "train CPU-min",
                    "MCD dB",
                    "mel L1",
                    "length error",
                    "intelligibility CER",
                    "vocoder floor CER",
                    "latency ms (audio)",
                    "1 thread: PyTorch / ONNX / INT8 ms",
                ],
                rows,
                left=2,
            ),
            "",
            "Reproduce: `.venv/bin/python benchmarks/tts_ljspeech.py` (resumes).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(default_data_root()))
    parser.add_argument("--aligner-steps", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--report", action="store_true", help="only redraw the section")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if args.report else run(args)
    print(f"listening page: {listening_page(args)}")
    text = section(results)
    update_section(REPO / "BENCHMARKS.md", "tts-ljspeech", "TTS on LJSpeech", text)
    print(text)


if __name__ == "__main__":
    main()
