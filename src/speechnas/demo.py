"""The built-in demo job: synthesise the default corpus, train, evaluate, report.

It needs no data of the user's. The corpus is the seeded synthetic voice-assistant corpus
(:mod:`speechnas.synth`), split so that dev and test voices are unseen in training. The report
compares the trained model with the same architecture untrained, so the gain is visible.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speechnas.errors import ConfigError

if TYPE_CHECKING:
    from speechnas.evaluate.runner import EvalResult

__all__ = ["DemoSettings", "run_demo"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    """Knobs of the demo; the defaults fit in about 15 minutes on two CPU cores.

    Training runs for ``epochs`` epochs (so the result is reproducible), and stops early only
    if ``train_minutes`` of training time run out first on a slow machine.
    """

    hours: float = 1.5
    epochs: int = 30
    train_minutes: float = 9.0
    preset: str = "conformer-ctc-xs"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hours", "epochs", "train_minutes"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"demo: {name} must be > 0, got {getattr(self, name)!r}")


def _row(label: str, r: EvalResult) -> dict[str, Any]:
    return {"model": label, **r.to_dict()}


def _markdown(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "# speechnas demo report",
        "",
        f"Corpus: synthetic voice-assistant English, {info['corpus_hours']:.2f} h "
        f"({info['train_utterances']} training utterances); dev and test voices are unseen "
        "in training.",
        f"Model: `{info['preset']}` ({info['params']:,} parameters, arch_id "
        f"`{info['arch_id']}`), trained {info['steps']} steps in {info['train_seconds']:.0f} s "
        f"on the CPU ({info['threads']} threads)"
        + (" (stopped early by the time cap)." if info["stopped_by_budget"] else "."),
        "",
        "| model | test set | utterances | WER | CER | RTF |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        rtf = "-" if r["rtf"] is None else f"{r['rtf']:.4f}"
        lines.append(
            f"| {r['model']} | {r['name']} | {r['utterances']} | {100 * r['wer']:.1f}% "
            f"| {100 * r['cer']:.1f}% | {rtf} |"
        )
    lines += [
        "",
        "WER and CER are corpus-level, after normalisation (NFKC, lower case, punctuation "
        "removed). RTF: compute seconds per audio second, greedy decoding, batch 1, CPU.",
        "",
        "## Training curves",
        "",
        "![training curves](training_curves.png)",
        "",
        "## Examples (trained model, test set)",
        "",
    ]
    for ex in info["examples"]:
        lines += [f"- ref: `{ex['ref']}`", f"  hyp: `{ex['hyp']}`"]
    return "\n".join(lines) + "\n"


def run_demo(out_dir: str | Path, settings: DemoSettings | None = None) -> dict[str, Any]:
    """Run the whole demo into ``out_dir``; returns the report's data.

    Writes ``out_dir/corpus/`` (cached), ``out_dir/train/`` (checkpoints),
    ``out_dir/results.json`` and ``out_dir/report.md``.
    """
    # Imported here so that the CLI can read DemoSettings without loading torch.
    import torch

    from speechnas._provenance import run_info
    from speechnas.data.manifest import read_manifest
    from speechnas.evaluate.runner import evaluate_model
    from speechnas.models import build_model
    from speechnas.presets import preset
    from speechnas.reports import plot_history
    from speechnas.synth import synthesize_corpus
    from speechnas.train import TrainConfig, load_model, resumable_checkpoint, train

    settings = settings or DemoSettings()
    out = Path(out_dir)
    corpus = synthesize_corpus(out / "corpus", hours=settings.hours, seed=settings.seed)
    config = TrainConfig(
        train_manifest=str(corpus.manifests["train"]),
        dev_manifest=str(corpus.manifests["dev"]),
        out_dir=str(out / "train"),
        arch=preset(settings.preset),
        max_epochs=settings.epochs,
        max_minutes=settings.train_minutes,
        batch_seconds=80.0,
        lr=3e-3,
        warmup_steps=150,
        eval_every=5,
        seed=settings.seed,
    )
    # Continue an interrupted demo of the same settings; start afresh after a change.
    resume = resumable_checkpoint(config)
    result = train(config, resume=resume, overwrite=resume is None)
    model, tokenizer, state = load_model(result.best_checkpoint)
    torch.manual_seed(settings.seed)
    untrained = build_model(config.arch, vocab_size=tokenizer.vocab_size).eval()

    rows = []
    examples: list[dict[str, str]] = []
    for name in ("dev", "test"):
        utts = read_manifest(corpus.manifests[name])
        trained_r = evaluate_model(model, tokenizer, utts, name=name)
        rows.append(
            _row(
                "untrained",
                evaluate_model(untrained, tokenizer, utts, name=name, rtf_utterances=0),
            )
        )
        rows.append(_row("trained", trained_r))
        if name == "test":
            examples = trained_r.examples
    info = {
        "corpus_hours": corpus.splits["all"].hours,
        "train_utterances": corpus.splits["train"].utterances,
        "preset": settings.preset,
        "params": model.num_params(),
        "arch_id": config.arch.arch_id,
        "steps": state["step"],
        "train_seconds": result.train_seconds,
        "stopped_by_budget": result.stopped_by_budget,
        "threads": torch.get_num_threads(),
        "examples": examples,
    }
    payload = {
        "settings": settings.__dict__,
        "corpus": str(corpus.out_dir),
        "results": rows,
        "info": info,
        "run_info": run_info(),
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    plot_history(result.out_dir / "history.jsonl", out / "training_curves.png")
    (out / "report.md").write_text(_markdown(rows, info), encoding="utf-8")
    return payload
