"""The latency-drift history of a deployed bundle (``speechnas monitor``): one JSON line per
check, read and drawn without torch, so the search report can show it.

Each line holds the check's time, CPU, thread count and its figures (variant, figure,
recorded and measured milliseconds, band, status); :mod:`speechnas.export.monitor` writes
them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["HISTORY", "plot_drift_history", "read_drift_history"]

#: The history file a bundle's checks are appended to, inside the bundle by default.
HISTORY = "monitor.jsonl"


def read_drift_history(path: str | Path) -> list[dict[str, Any]]:
    """The runs of a history file, oldest first (unreadable lines are skipped)."""
    runs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue
    return runs


def plot_drift_history(path: str | Path, out: str | Path) -> Path:
    """Each figure of a history over its runs, with its record and band: a PNG at ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = read_drift_history(path)
    series: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, run in enumerate(runs):
        for f in run["figures"]:
            series.setdefault(f"{f['variant']} ({f['what']})", []).append((i, f))
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    for k, (name, points) in enumerate(sorted(series.items())):
        colour = f"C{k % 10}"
        xs = [i for i, _ in points]
        ax.plot(xs, [f["measured_ms"] for _, f in points], "o-", color=colour, label=name)
        recorded = points[-1][1]["recorded_ms"]
        band = points[-1][1]["band_ms"]
        ax.axhline(recorded, color=colour, linestyle=":", linewidth=1)
        ax.axhspan(recorded - band, recorded + band, color=colour, alpha=0.08)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(
        xlabel="check (oldest first)",
        ylabel="ms",
        title="latency against the figures recorded at export",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
