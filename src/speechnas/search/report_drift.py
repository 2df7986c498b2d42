"""The report's section on the deployed models: the latency drift that ``speechnas monitor``
recorded for each final model's export bundle, drawn and tabled.

A final model's bundle (``final.json``: ``export.dir``, and ``qat.export.dir`` after a
quantisation-aware fine-tune) holds ``monitor.jsonl`` once the monitor has checked it. The
recorded folder is found again inside the run folder where it is now (a run may be moved,
or its report written from another working folder). The section shows each bundle's history
as a plot (measured against the figure recorded at export, with its band) and its latest
check as a table. Bundles never checked are listed as such, so a reader sees what has not
been monitored.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from speechnas.reports.drift import HISTORY, plot_drift_history, read_drift_history

__all__ = ["drift_section"]

_STATUS = {"slower": "DRIFTED (slower)", "faster": "faster", "ok": "ok"}


def _bundle(recorded: str, run_dir: Path) -> Path:
    """The bundle folder ``recorded`` in ``final.json``, found where the run is now: its
    path from the run's ``final`` folder on, under ``run_dir`` (else as recorded)."""
    path = Path(recorded)
    parts = path.parts
    if "final" in parts:
        inside = run_dir.joinpath(*parts[len(parts) - 1 - parts[::-1].index("final") :])
        if inside.exists():
            return inside
    return path


def drift_section(final: list[dict[str, Any]], out_dir: Path, run_dir: Path) -> list[str]:
    """HTML parts of the section (empty when no final model was exported); its plots are
    written into ``out_dir``."""
    bundles = [
        (f"trial {f['trial']}" + (", after QAT" if qat else ""), _bundle(e["dir"], run_dir))
        for f in final
        for qat, e in ((False, f.get("export", {})), (True, f.get("qat", {}).get("export", {})))
        if e.get("dir")
    ]
    if not bundles:
        return []
    parts = [
        "<h2>Latency drift after deployment</h2>",
        "<p>Each export bundle measured again by <code>speechnas monitor --bundle DIR</code> "
        "against the latency it recorded when it was exported; the band is the "
        "measurement's own noise (at least the monitor's tolerance).</p>",
    ]
    unchecked = []
    for k, (name, bundle) in enumerate(bundles):
        history = bundle / HISTORY
        runs = read_drift_history(history) if history.exists() else []
        if not runs:
            unchecked.append(f"{name} (<code>{html.escape(str(bundle))}</code>)")
            continue
        image = plot_drift_history(history, out_dir / f"drift_{k}.png")
        last = runs[-1]
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{c}</td>"
                for c in (
                    html.escape(str(g["variant"])),
                    html.escape(str(g["what"])),
                    f"{g['recorded_ms']:.2f}",
                    f"{g['measured_ms']:.2f}",
                    f"±{g['band_ms']:.2f}",
                    _STATUS.get(g["status"], html.escape(str(g["status"]))),
                )
            )
            + "</tr>"
            for g in last["figures"]
        )
        parts += [
            f"<h3>{html.escape(name.capitalize())}: {len(runs)} check(s), the latest "
            f"{html.escape(last['time'])}"
            f" on {html.escape(str(last['cpu']))}, {last['threads']} thread(s)</h3>",
            f'<img src="{image.name}" alt="{image.stem}">',
            "<table><tr><th>variant</th><th>figure</th><th>recorded ms</th>"
            f"<th>measured ms</th><th>band ms</th><th>status</th></tr>{rows}</table>",
        ]
    if unchecked:
        parts.append("<p>Not checked yet: " + ", ".join(unchecked) + ".</p>")
    return parts
