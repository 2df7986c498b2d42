"""The built-in demo job: synthesise the default corpus, search architectures, report.

It needs no data of the user's. The corpus is the seeded synthetic voice-assistant corpus
(:mod:`speechnas.synth`), split so that dev and test voices are unseen in training. The search
is multi-objective (dev WER and measured CPU latency) over a space of small encoders, with
multi-fidelity estimation (a ladder of training steps, successive halving between rungs), all
with the default training recipe; the best of the front goes on training from its trial's
weights on all the training data, is tested on unseen voices and exported, and the report
says plainly how good it is. Everything is
resumable: run it again and it continues where it stopped. A search left by a demo of other
settings (another ``--seed`` or ``--hours``, or another version of speechnas) is kept beside,
as ``search-previous-N``, and the demo starts afresh.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speechnas.errors import ConfigError, ConfigMismatch
from speechnas.locking import exclusive
from speechnas.reports.quality import describe_quality
from speechnas.search.config import (
    DataConfig,
    FidelityConfig,
    FinalConfig,
    Rung,
    SearchConfig,
)
from speechnas.space import SpeechSpace
from speechnas.train import TrainSettings

if TYPE_CHECKING:
    from speechnas.search.runner import SearchSummary
    from speechnas.synth import SynthResult

__all__ = ["DEMO_SPACE", "DemoSettings", "demo_search_config", "run_demo"]

log = logging.getLogger(__name__)

#: Small CTC encoders of four families: what two CPU cores can train in a minute or so.
DEMO_SPACE = SpeechSpace(
    frontends=("logmel",),
    n_mels=(40, 80),
    subsamplings=("conv2d",),
    subsampling_factors=(4,),
    time_reduction=False,
    encoders=("conformer", "transformer", "cnn", "lstm"),
    attentions=("rel",),
    min_layers=2,
    max_layers=4,
    widths=(64, 96, 128),
    kernels=(5, 11, 15),
    heads=(2, 4),
    ffn_expansions=(2.0, 3.0, 4.0),
    activations=("swish",),
    norms=("layernorm",),
    decoders=("ctc",),
)


@dataclass(frozen=True)
class DemoSettings:
    """Knobs of the demo; the defaults fit in about 30 minutes on two CPU cores.

    Attributes:
        hours: synthetic audio to generate.
        trials: architectures to evaluate.
        rung_steps: optimiser steps of every trial's first rung; those promoted by
            successive halving train three times as many more.
        final_epochs: epochs of the final training of the best architecture, which
            continues from its trial's weights.
        final_minutes: cap on that training.
        seed: seeds the corpus, the proposals and the training.
    """

    hours: float = 1.5
    trials: int = 9
    rung_steps: int = 500
    final_epochs: int = 100
    final_minutes: float = 7.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hours", "trials", "rung_steps", "final_epochs", "final_minutes"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"demo: {name} must be > 0, got {getattr(self, name)!r}")


def demo_search_config(
    settings: DemoSettings, manifests: dict[str, Path], out_root: Path
) -> SearchConfig:
    """The demo's search over ``manifests`` (``train``, ``dev``, ``test``)."""
    return SearchConfig(
        name="search",
        out_root=str(out_root),
        data=DataConfig(
            train_manifest=str(manifests["train"]),
            dev_manifest=str(manifests["dev"]),
            test_manifests={"test": str(manifests["test"])},
        ),
        space=DEMO_SPACE,
        strategy="tpe",
        strategy_options={"n_startup_trials": 8},
        n_trials=settings.trials,
        seed=settings.seed,
        objectives=("wer", "latency_ms"),
        fidelity=FidelityConfig(
            # Steps, not epochs: as many updates for every architecture, on any machine.
            rungs=(Rung(1.0, steps=settings.rung_steps), Rung(1.0, steps=3 * settings.rung_steps)),
            pruner="successive_halving",
            reduction_factor=3,
            min_trials=3,
            early_stop_patience=3,
            metric="cer",
            dev_utterances=120,
        ),
        train=TrainSettings(),  # the default recipe
        final=FinalConfig(
            top_k=1,
            epochs=settings.final_epochs,
            max_minutes=settings.final_minutes,
            export=("fp32", "int8"),
            from_trial=True,
        ),
    )


def _verdicts(final: list[dict[str, Any]]) -> list[str]:
    """How good the retrained winner is on voices it never heard (its test sets; dev when
    there are none), one paragraph each."""
    lines = []
    for f in final:
        scores = {k: v for k, v in f["scores"].items() if k != "dev"} or f["scores"]
        for name, s in scores.items():
            lines += [
                f"**How good the winner is, on {name} voices it never heard:** "
                f"{describe_quality(s['wer'], s['cer'])}.",
                "",
            ]
    return lines


def _markdown(summary: Any, final: list[dict[str, Any]], config: SearchConfig) -> str:
    stopped = sum(summary.stopped_at_rung.values())
    lines = [
        "# speechnas demo report",
        "",
        f"A {config.strategy.upper()} search of {config.n_trials} architectures "
        f"(objectives: {', '.join(config.objectives)}) on the synthetic voice-assistant "
        "corpus; dev and test voices are unseen in training.",
        f"Ladder {config.fidelity.signature}: {summary.complete} trials reached the last "
        f"rung, {stopped} were stopped early by successive halving.",
        "",
        *_verdicts(final),
        "## Pareto front (dev WER vs CPU latency)",
        "",
        "| trial | architecture | dev WER | dev CER | latency (5 s audio) | params |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in summary.front:
        lines.append(
            f"| {r.number} | {r.spec.summary()} | {100 * r.metrics['wer']:.1f}% "
            f"| {100 * r.metrics['cer']:.1f}% | {r.metrics['latency_ms']:.0f} ms "
            f"| {int(r.metrics['params']):,} |"
        )
    lines += ["", "## Best architecture, trained on all the training data", ""]
    for f in final:
        trained = f"{f['train_seconds'] / 60:.1f} min of training"
        if f.get("from_trial_seconds"):
            trained += (
                f", continuing from its trial's weights ({f['from_trial_seconds'] / 60:.1f} "
                "min in the search)"
            )
        lines.append(
            f"- trial {f['trial']}: {f['summary']} ({f['params']:,} parameters; {trained})"
        )
        for name, s in f["scores"].items():
            lines.append(
                f"  - {name}: WER {100 * s['wer']:.1f}%, CER {100 * s['cer']:.1f}% "
                f"({s['utterances']} utterances)"
            )
        for v in f.get("export", {}).get("variants", []):
            wers = ", ".join(
                f"{name} WER {100 * sc['wer']:.1f}%" for name, sc in v["scores"].items()
            )
            lines.append(
                f"  - export `{v['name']}`: {v['size_mb']:.2f} MB, {v['latency_ms']:.1f} ms "
                f"for {config.latency_seconds:g} s of audio; {wers}"
            )
    lines += [
        "",
        "Plots and every trial: [search/report/index.html](search/report/index.html). "
        "Best checkpoint: `search/best.pt`.",
    ]
    return "\n".join(lines) + "\n"


def _search(config: SearchConfig, settings: DemoSettings, progress: bool) -> SearchSummary:
    """Run (or continue) the demo's search. A search left in its folder by a demo of other
    settings (another ``--seed`` or ``--hours``, or another version of speechnas) cannot be
    continued: it is kept beside, as ``search-previous-N``, and the search starts afresh."""
    from speechnas.search.runner import run_search

    marker = config.run_dir / "demo.json"
    mine = {"hours": settings.hours, "seed": settings.seed}

    def start() -> SearchSummary:
        if not (config.run_dir / "study.db").exists():  # a new search: record its corpus
            config.run_dir.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps(mine), encoding="utf-8")
        return run_search(config, progress=progress)

    changed: list[str] = []
    if marker.is_file():
        theirs = json.loads(marker.read_text(encoding="utf-8"))
        changed = sorted(k for k in mine if theirs.get(k) != mine[k])
    if not changed:
        try:
            return start()
        except ConfigMismatch as e:
            changed = e.changed
    kept = _set_aside(config.run_dir)
    log.warning(
        "%s holds a demo search of other settings (%s); it is kept as %s and the demo "
        "starts afresh",
        config.run_dir,
        ", ".join(changed),
        kept,
    )
    return start()


def _set_aside(run_dir: Path) -> Path:
    """Rename ``run_dir`` to the first free ``<run_dir>-previous-N``, with the demo's report
    of it (``results.json``, ``report.md`` beside it); returns the new path."""
    for n in itertools.count(1):
        kept = run_dir.with_name(f"{run_dir.name}-previous-{n}")
        if not kept.exists():
            break
    run_dir.rename(kept)
    for name in ("results.json", "report.md"):
        if (run_dir.parent / name).is_file():
            (run_dir.parent / name).rename(kept / name)
    return kept


def run_demo(
    out_dir: str | Path, settings: DemoSettings | None = None, *, progress: bool = True
) -> dict[str, Any]:
    """Run the whole demo into ``out_dir``; returns the report's data.

    Writes ``out_dir/corpus/`` (cached), ``out_dir/search/`` (the study database, trials,
    final model ``best.pt`` and the HTML report), ``out_dir/results.json`` and
    ``out_dir/report.md``.
    """
    from speechnas.synth import synthesize_corpus

    settings = settings or DemoSettings()
    out = Path(out_dir)
    with exclusive(out, "demo"):
        corpus = synthesize_corpus(out / "corpus", hours=settings.hours, seed=settings.seed)
        config = demo_search_config(settings, dict(corpus.manifests), out)
        summary = _search(config, settings, progress)
        return _finish(config, settings, corpus, summary)


def _finish(
    config: SearchConfig, settings: DemoSettings, corpus: SynthResult, summary: SearchSummary
) -> dict[str, Any]:
    """The final stage, the HTML report, ``results.json`` and ``report.md``."""
    from speechnas.search.final import run_final
    from speechnas.search.reporting import write_report

    out = Path(config.out_root)
    final = run_final(summary.front, config)
    report = write_report(config)
    payload = {
        "settings": asdict(settings),
        "corpus": {"path": str(corpus.out_dir), "hours": corpus.splits["all"].hours},
        "trials": summary.finished,
        "complete": summary.complete,
        "stopped_at_rung": summary.stopped_at_rung,
        "front": [
            {"trial": r.number, "arch_id": r.arch_id, "summary": r.spec.summary(), **r.metrics}
            for r in summary.front
            if r.spec is not None
        ],
        "final": final,
        "report": str(report),
        "checkpoint": str(config.run_dir / "best.pt"),
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    (out / "report.md").write_text(_markdown(summary, final, config), encoding="utf-8")
    return payload
