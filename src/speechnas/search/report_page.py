"""The search report: an HTML page with PNG plots of a search's results.

Plots: the Pareto front (WER vs latency, WER vs parameters) over every evaluated trial, with
reference points (e.g. hand-designed presets) when given; best-so-far against trials; the
evaluation cost spent per rung and how many trials stopped there; the front as it evolved over
the trials; the architectures tried by encoder family and depth; and which decisions of the
space the first objective depends on. Tables: the front's
architectures with their specs, the final stage's test scores, every trial.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechnas.arch import ArchSpec
from speechnas.search.objectives import dev_languages
from speechnas.search.pareto import pareto_front
from speechnas.search.report_drift import drift_section
from speechnas.search.store import TrialRecord

__all__ = ["ASR_SCORES", "Reference", "Score", "TTS_SCORES", "write_search_report"]


@dataclass(frozen=True)
class Score:
    """A quality metric the report plots and tabulates: metric name, axis label, and the
    factor from the stored value to the shown one (100 for a rate shown in %)."""

    name: str
    label: str
    scale: float = 1.0

    @property
    def column(self) -> str:
        """Its table heading."""
        return self.label.replace("dev ", "").replace("held-out ", "").replace(" (%)", " %")


#: A recogniser search's scores; the first is what the plots put against cost.
ASR_SCORES = (Score("wer", "dev WER (%)", 100.0), Score("cer", "dev CER (%)", 100.0))

#: A text-to-speech search's.
TTS_SCORES = (
    Score("mcd_db", "held-out MCD (dB)"),
    Score("mel_l1", "held-out mel L1"),
    Score("intelligibility_cer", "intelligibility CER (%)", 100.0),
)


@dataclass(frozen=True)
class Reference:
    """A point to compare with (a preset trained on the same data): label and metrics."""

    label: str
    wer: float
    latency_ms: float
    params: float


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path) -> Path:
    """Write ``fig`` to ``out`` as PNG and free it."""
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    _plt().close(fig)
    return out


def _front_plot(
    records: list[TrialRecord],
    x_metric: str,
    x_label: str,
    references: Sequence[Reference],
    out: Path,
    log_x: bool = False,
    score: Score = ASR_SCORES[0],
) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    y, k = score.name, score.scale
    done = [r for r in records if {y, x_metric} <= r.metrics.keys() and r.cached_from is None]
    stopped = [r for r in done if r.state != "COMPLETE"]
    complete = [r for r in done if r.state == "COMPLETE"]
    if stopped:
        ax.scatter(
            [r.metrics[x_metric] for r in stopped],
            [k * r.metrics[y] for r in stopped],
            marker="x",
            color="0.6",
            label="stopped early (lower fidelity)",
        )
    if complete:
        ax.scatter(
            [r.metrics[x_metric] for r in complete],
            [k * r.metrics[y] for r in complete],
            color="tab:blue",
            alpha=0.6,
            label="searched",
        )
        points = [(r.metrics[y], r.metrics[x_metric]) for r in complete]
        front = sorted(
            (complete[i] for i in pareto_front(points)), key=lambda r: r.metrics[x_metric]
        )
        ax.step(
            [r.metrics[x_metric] for r in front],
            [k * r.metrics[y] for r in front],
            where="post",
            color="tab:blue",
            label="Pareto front",
        )
    for ref in references:
        x = {"latency_ms": ref.latency_ms, "params": ref.params}.get(x_metric)
        if x is None:
            continue  # a reference carries latency and params only
        ax.scatter([x], [100 * ref.wer], marker="*", s=140, color="tab:red")
        ax.annotate(
            ref.label, (x, 100 * ref.wer), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=x_label, ylabel=score.label, title=f"{score.column} vs {x_label}")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, out)


def _best_so_far_plot(records: list[TrialRecord], out: Path, score: Score) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    best, xs, ys = float("inf"), [], []
    for r in sorted(records, key=lambda r: r.number):
        if r.state == "COMPLETE" and score.name in r.metrics:
            best = min(best, r.metrics[score.name])
        if best < float("inf"):
            xs.append(r.number)
            ys.append(score.scale * best)
    ax.plot(xs, ys, drawstyle="steps-post", marker=".")
    ax.set(xlabel="trial", ylabel=f"best {score.label} so far", title="best so far")
    ax.grid(alpha=0.3)
    return _save(fig, out)


def _front_history_plot(records: list[TrialRecord], out: Path, score: Score) -> Path:
    """The score-latency front as it stood after each quarter of the trials."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    y = score.name
    complete = [
        r
        for r in sorted(records, key=lambda r: r.number)
        if r.state == "COMPLETE"
        and {y, "latency_ms"} <= r.metrics.keys()
        and r.cached_from is None
    ]
    last = max((r.number for r in records), default=0) + 1
    cuts = sorted({max(1, round(last * q / 4)) for q in (1, 2, 3, 4)})
    for i, cut in enumerate(cuts):
        seen = [r for r in complete if r.number < cut]
        if not seen:
            continue
        points = [(r.metrics[y], r.metrics["latency_ms"]) for r in seen]
        front = sorted(
            (seen[k] for k in pareto_front(points)), key=lambda r: r.metrics["latency_ms"]
        )
        ax.step(
            [r.metrics["latency_ms"] for r in front],
            [score.scale * r.metrics[y] for r in front],
            where="post",
            marker="o",
            color=plt.cm.viridis(0.15 + 0.7 * i / max(1, len(cuts) - 1)),
            label=f"after {cut} trials",
        )
    ax.set(xlabel="CPU latency (ms)", ylabel=score.label, title="the front as the search went on")
    ax.grid(alpha=0.3)
    if complete:
        ax.legend(fontsize=8)
    return _save(fig, out)


def _diversity_plot(records: list[TrialRecord], out: Path) -> Path:
    """How many distinct architectures the search tried, by encoder family and depth."""
    plt = _plt()
    counts: dict[str, dict[int, int]] = {}
    for r in records:
        if r.spec is None or r.cached_from is not None:
            continue
        if isinstance(r.spec, ArchSpec):
            family, depth = r.spec.encoder, len(r.spec.layers)
        else:  # a TTS model: by its encoder's kinds of block
            family = "+".join(sorted({b.kind for b in r.spec.encoder}))
            depth = len(r.spec.encoder)
        by_depth = counts.setdefault(family, {})
        by_depth[depth] = by_depth.get(depth, 0) + 1
    depths = sorted({d for by_depth in counts.values() for d in by_depth})
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bottom = [0] * len(depths)
    for family in sorted(counts):
        heights = [counts[family].get(d, 0) for d in depths]
        ax.bar([str(d) for d in depths], heights, bottom=bottom, label=family)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set(xlabel="encoder layers", ylabel="architectures tried", title="diversity of the search")
    if counts:
        ax.legend(fontsize=8, title="encoder")
    return _save(fig, out)


def _importance_plot(importance: dict[str, float], objective: str, out: Path) -> Path:
    """Which of the space's decisions the first objective depends on (fANOVA)."""
    plt = _plt()
    names = sorted(importance, key=importance.__getitem__)
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.3 * max(1, len(names))))
    ax.barh(names, [importance[n] for n in names], color="tab:purple")
    ax.set(xlabel=f"share of the variance of {objective}", title="which decisions matter")
    return _save(fig, out)


def _language_plot(front: list[TrialRecord], languages: list[str], out: Path) -> Path:
    """Dev CER of each front model in each language (a heat map, darker: worse)."""
    plt = _plt()
    grid = [[100 * r.metrics.get(f"cer_{x}", float("nan")) for x in languages] for r in front]
    fig, ax = plt.subplots(
        figsize=(min(16.0, 2.0 + 0.35 * len(languages)), 1.2 + 0.4 * len(front))
    )
    image = ax.imshow(grid, cmap="magma_r", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(languages)), languages, rotation=90)
    ax.set_yticks(range(len(front)), [f"trial {r.number}" for r in front])
    ax.set_title("dev CER % by language, Pareto front")
    fig.colorbar(image, ax=ax, label="CER %")
    return _save(fig, out)


def _rung_plot(records: list[TrialRecord], n_rungs: int, out: Path) -> Path:
    plt = _plt()
    seconds = [0.0] * n_rungs
    reached = [0] * n_rungs
    stopped = [0] * n_rungs
    for r in records:
        if r.cached_from is not None:
            continue
        rungs = {p["rung"] for p in r.curve}
        for k in rungs:
            reached[k] += 1
        last: dict[int, float] = {}
        for p in r.curve:
            if "train_seconds" in p:  # a scored point (a TTS curve also logs its loss)
                last[p["rung"]] = p["train_seconds"]
        previous = 0.0
        for k in sorted(last):
            seconds[k] += last[k] - previous
            previous = last[k]
        if r.state == "PRUNED" and r.rung >= 0:
            stopped[r.rung] += 1
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = [f"rung {k}" for k in range(n_rungs)]
    ax1.bar(labels, [s / 60 for s in seconds], color="tab:green")
    ax1.set(ylabel="training minutes", title="evaluation cost per rung")
    ax2.bar(labels, reached, label="trained at this rung", color="tab:blue")
    ax2.bar(labels, stopped, label="stopped here", color="tab:orange")
    ax2.set(ylabel="trials", title="progressive evaluation")
    ax2.legend(fontsize=8)
    return _save(fig, out)


def _energy_section(
    records: list[TrialRecord], front: list[TrialRecord], out_dir: Path
) -> list[str]:
    """WER against energy per utterance, with each figure labelled measured (the CPU's
    energy counter) or estimated (MACs and memory traffic); empty without energy figures."""
    if not any("energy_j" in r.metrics for r in records):
        return []
    image = _front_plot(
        records, "energy_j", "energy per utterance (J)", (), out_dir / "pareto_wer_energy.png"
    )
    source = {1.0: "measured (RAPL counter)", 0.0: "estimated (MACs and memory traffic)"}
    return [
        "<h2>Energy per utterance</h2>",
        f'<img src="{image.name}" alt="{image.stem}">',
        _table(
            ["trial", "architecture", "WER %", "energy mJ", "latency ms", "energy figure"],
            [
                [
                    str(r.number),
                    html.escape(r.spec.summary() if r.spec else ""),
                    _fmt(r.metrics.get("wer"), 100),
                    _fmt(r.metrics.get("energy_j"), 1e3, 2),
                    _fmt(r.metrics.get("latency_ms")),
                    source.get(r.metrics.get("energy_measured", -1.0), "-"),
                ]
                for r in front
                if "energy_j" in r.metrics
            ],
        ),
    ]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{scale * value:,.{digits}f}"


def write_search_report(
    out_dir: Path,
    *,
    title: str,
    records: list[TrialRecord],
    objectives: tuple[str, ...],
    n_rungs: int,
    front: list[TrialRecord],
    final: list[dict[str, Any]] | None = None,
    references: Sequence[Reference] = (),
    notes: Sequence[str] = (),
    importance: dict[str, float] | None = None,
    run_dir: Path | None = None,
    scores: Sequence[Score] = ASR_SCORES,
    sections: Sequence[str] = (),
) -> Path:
    """Write ``index.html`` and its PNGs into ``out_dir``; returns the HTML path.

    ``run_dir``: the run folder the final stage's bundles are under (default: the folder
    above ``out_dir``, where ``speechnas report`` writes).

    ``importance``: the share of the first objective's variance each decision of the space
    explains (Optuna's fANOVA over the complete trials), where there were enough of them.

    ``scores``: the quality metrics of the plots (the first, against latency and
    parameters) and tables; ``sections``: HTML placed after the front's table (a TTS
    search's listening page, say).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    score = scores[0]
    images = [
        _front_plot(
            records,
            "latency_ms",
            "CPU latency (ms)",
            references,
            out_dir / f"pareto_{score.name}_latency.png",
            score=score,
        ),
        _front_plot(
            records,
            "params",
            "parameters",
            references,
            out_dir / f"pareto_{score.name}_params.png",
            log_x=True,
            score=score,
        ),
        _best_so_far_plot(records, out_dir / "best_so_far.png", score),
        _rung_plot(records, n_rungs, out_dir / "rung_cost.png"),
        _front_history_plot(records, out_dir / "front_history.png", score),
        _diversity_plot(records, out_dir / "diversity.png"),
    ]
    if importance:
        images.append(
            _importance_plot(importance, objectives[0], out_dir / "decision_importance.png")
        )
    front_rows = [
        [
            str(r.number),
            f"<code>{r.arch_id}</code>",
            html.escape(r.spec.summary() if r.spec else ""),
            *(_fmt(r.metrics.get(q.name), q.scale, 2 if q.scale == 1 else 1) for q in scores),
            _fmt(r.metrics.get("latency_ms")),
            _fmt(r.metrics.get("params"), 1, 0),
            _fmt(r.metrics.get("macs"), 1e-6, 1),
            "<details><summary>spec</summary><pre>"
            + html.escape(json.dumps(r.spec.to_dict() if r.spec else {}, indent=1))
            + "</pre></details>",
        ]
        for r in front
    ]
    trial_rows = [
        [
            str(r.number),
            r.state.lower() + (f" ({html.escape(r.reason)})" if r.reason else ""),
            html.escape(r.spec.summary() if r.spec else ""),
            str(r.rung) if r.rung >= 0 else "-",
            _fmt(r.metrics.get(score.name), score.scale, 2 if score.scale == 1 else 1),
            _fmt(r.metrics.get("latency_ms")),
            _fmt(r.metrics.get("params"), 1, 0),
            _fmt(r.wall_seconds, 1, 0)
            + (f" (= trial {r.cached_from})" if r.cached_from is not None else ""),
        ]
        for r in sorted(records, key=lambda r: r.number)
    ]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "".join(f"<p>{html.escape(n)}</p>" for n in notes),
        f"<p>Objectives (all minimised): {html.escape(', '.join(objectives))}.</p>",
        "<h2>Pareto front</h2>",
        "".join(f'<img src="{p.name}" alt="{p.stem}">' for p in images[:2]),
        _table(
            [
                "trial",
                "arch_id",
                "architecture",
                *(q.column for q in scores),
                "latency ms",
                "params",
                "MMACs/s",
                "spec",
            ],
            front_rows,
        ),
        *sections,
    ]
    parts += _energy_section(records, front, out_dir)
    if any("wer_int8" in r.metrics for r in front):
        parts += [
            "<h2>The front in FP32 and as its INT8 export</h2>",
            "<p>Dev scores of each trained trial and of its INT8 export (ONNX Runtime, "
            "dynamic quantisation) on this CPU: what ships.</p>",
            _table(
                [
                    "trial",
                    "WER %",
                    "INT8 WER %",
                    "CER %",
                    "INT8 CER %",
                    "latency ms",
                    "INT8 latency ms",
                    "INT8 MB",
                ],
                [
                    [
                        str(r.number),
                        _fmt(r.metrics.get("wer"), 100),
                        _fmt(r.metrics.get("wer_int8"), 100),
                        _fmt(r.metrics.get("cer"), 100),
                        _fmt(r.metrics.get("cer_int8"), 100),
                        _fmt(r.metrics.get("latency_ms")),
                        _fmt(r.metrics.get("int8_latency_ms")),
                        _fmt(r.metrics.get("int8_size_mb"), digits=2),
                    ]
                    for r in front
                ],
            ),
        ]
    languages = dev_languages(r.metrics for r in front)
    if languages:
        heat = _language_plot(front, languages, out_dir / "front_languages.png")
        parts += [
            "<h2>The front by language</h2>",
            f"<p>Dev CER % in each of the dev set's {len(languages)} languages, each scored "
            "by its own rules; mean and worst over them.</p>",
            f'<img src="{heat.name}" alt="{heat.stem}">',
            _table(
                ["trial", "mean CER %", "worst CER %", *languages],
                [
                    [
                        str(r.number),
                        _fmt(r.metrics.get("mean_cer"), 100),
                        _fmt(r.metrics.get("worst_cer"), 100),
                    ]
                    + [_fmt(r.metrics.get(f"cer_{x}"), 100) for x in languages]
                    for r in front
                ],
            ),
        ]
    if final:
        sets = sorted({name for f in final for name in f["scores"]})
        parts += [
            "<h2>Final stage: retrained on all the training data</h2>",
            _table(
                ["trial", "architecture", "params", "latency ms", "epochs"]
                + [f"{s} WER %" for s in sets],
                [
                    [
                        str(f["trial"]),
                        html.escape(f["summary"]),
                        f"{f['params']:,}",
                        _fmt(f["latency_ms"]),
                        str(f["epochs"]),
                    ]
                    + [_fmt(f["scores"].get(s, {}).get("wer"), 100) for s in sets]
                    for f in final
                ],
            ),
        ]
        exported = [(f, v) for f in final for v in f.get("export", {}).get("variants", [])]
        exported += [  # after a quantisation-aware fine-tune (final.qat_threshold)
            (f, {**v, "name": f"{v['name']}, after QAT"})
            for f in final
            for v in f.get("qat", {}).get("export", {}).get("variants", [])
        ]
        if exported:
            parts += [
                "<h2>Deployable exports of the final models</h2>",
                _table(
                    ["trial", "variant", "size MB", "latency ms", "per chunk ms"]
                    + [f"{s} WER %" for s in sets],
                    [
                        [
                            str(f["trial"]),
                            html.escape(v["name"]),
                            _fmt(v["size_mb"], digits=2),
                            _fmt(v["latency_ms"]),
                            _fmt(v.get("chunk_ms")),
                        ]
                        + [_fmt(v["scores"].get(s, {}).get("wer"), 100) for s in sets]
                        for f, v in exported
                    ],
                ),
            ]
    parts += drift_section(final or [], out_dir, run_dir or out_dir.parent)
    parts += [
        "<h2>Search progress</h2>",
        "".join(f'<img src="{p.name}" alt="{p.stem}">' for p in images[2:4]),
        "<h2>How the search explored</h2>",
        "".join(f'<img src="{p.name}" alt="{p.stem}">' for p in images[4:]),
        ""
        if importance
        else "<p>No decision importance: it needs at least two complete trials whose "
        "architectures and first objective differ.</p>",
        "<h2>All trials</h2>",
        _table(
            [
                "trial",
                "state",
                "architecture",
                "rung",
                score.column,
                "latency ms",
                "params",
                "wall s",
            ],
            trial_rows,
        ),
    ]
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto}"
        "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
        "img{max-width:49%;margin:4px}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
