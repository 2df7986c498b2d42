"""The search report: an HTML page with PNG plots of a search's results.

Plots: the Pareto front (WER vs latency, WER vs parameters) over every evaluated trial, with
reference points (e.g. hand-designed presets) when given; best-so-far against trials; the
evaluation cost spent per rung and how many trials stopped there. Tables: the front's
architectures with their specs, the final stage's test scores, every trial.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechnas.search.pareto import pareto_front
from speechnas.search.store import TrialRecord

__all__ = ["Reference", "write_search_report"]


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


def _front_plot(
    records: list[TrialRecord],
    x_metric: str,
    x_label: str,
    references: Sequence[Reference],
    out: Path,
    log_x: bool = False,
) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    done = [r for r in records if "wer" in r.metrics and r.cached_from is None]
    stopped = [r for r in done if r.state != "COMPLETE"]
    complete = [r for r in done if r.state == "COMPLETE"]
    if stopped:
        ax.scatter(
            [r.metrics[x_metric] for r in stopped],
            [100 * r.metrics["wer"] for r in stopped],
            marker="x",
            color="0.6",
            label="stopped early (lower fidelity)",
        )
    if complete:
        ax.scatter(
            [r.metrics[x_metric] for r in complete],
            [100 * r.metrics["wer"] for r in complete],
            color="tab:blue",
            alpha=0.6,
            label="searched",
        )
        points = [(r.metrics["wer"], r.metrics[x_metric]) for r in complete]
        front = sorted(
            (complete[i] for i in pareto_front(points)), key=lambda r: r.metrics[x_metric]
        )
        ax.step(
            [r.metrics[x_metric] for r in front],
            [100 * r.metrics["wer"] for r in front],
            where="post",
            color="tab:blue",
            label="Pareto front",
        )
    for ref in references:
        x = ref.latency_ms if x_metric == "latency_ms" else ref.params
        ax.scatter([x], [100 * ref.wer], marker="*", s=140, color="tab:red")
        ax.annotate(
            ref.label, (x, 100 * ref.wer), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=x_label, ylabel="dev WER (%)", title=f"WER vs {x_label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _best_so_far_plot(records: list[TrialRecord], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    best, xs, ys = float("inf"), [], []
    for r in sorted(records, key=lambda r: r.number):
        if r.state == "COMPLETE" and "wer" in r.metrics:
            best = min(best, r.metrics["wer"])
        if best < float("inf"):
            xs.append(r.number)
            ys.append(100 * best)
    ax.plot(xs, ys, drawstyle="steps-post", marker=".")
    ax.set(xlabel="trial", ylabel="best dev WER so far (%)", title="best so far")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


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
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


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
) -> Path:
    """Write ``index.html`` and its PNGs into ``out_dir``; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = [
        _front_plot(
            records,
            "latency_ms",
            "CPU latency (ms)",
            references,
            out_dir / "pareto_wer_latency.png",
        ),
        _front_plot(
            records,
            "params",
            "parameters",
            references,
            out_dir / "pareto_wer_params.png",
            log_x=True,
        ),
        _best_so_far_plot(records, out_dir / "best_so_far.png"),
        _rung_plot(records, n_rungs, out_dir / "rung_cost.png"),
    ]
    front_rows = [
        [
            str(r.number),
            f"<code>{r.arch_id}</code>",
            html.escape(r.spec.summary() if r.spec else ""),
            _fmt(r.metrics.get("wer"), 100),
            _fmt(r.metrics.get("cer"), 100),
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
            _fmt(r.metrics.get("wer"), 100),
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
                "WER %",
                "CER %",
                "latency ms",
                "params",
                "MMACs/s",
                "spec",
            ],
            front_rows,
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
    parts += [
        "<h2>Search progress</h2>",
        "".join(f'<img src="{p.name}" alt="{p.stem}">' for p in images[2:]),
        "<h2>All trials</h2>",
        _table(
            ["trial", "state", "architecture", "rung", "WER %", "latency ms", "params", "wall s"],
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
