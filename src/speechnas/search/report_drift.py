"""The report's section on the deployed models: the latency drift that ``speechnas monitor``
recorded for each final model's export bundle, drawn and tabled.

A final model's bundle (``final.json``: ``export.dir``) holds ``monitor.jsonl`` once the
monitor has checked it; the section shows each bundle's history as a plot (measured against
the figure recorded at export, with its band) and its latest check as a table. Bundles never
checked are listed as such, so a reader sees what has not been monitored.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from speechnas.export.monitor import HISTORY, plot_history, read_history

__all__ = ["drift_section"]

_STATUS = {"slower": "DRIFTED (slower)", "faster": "faster", "ok": "ok"}


def drift_section(final: list[dict[str, Any]], out_dir: Path) -> list[str]:
    """HTML parts of the section (empty when no final model was exported); its plots are
    written into ``out_dir``."""
    bundles = [(f, Path(f["export"]["dir"])) for f in final if f.get("export", {}).get("dir")]
    if not bundles:
        return []
    parts = [
        "<h2>Latency drift after deployment</h2>",
        "<p>Each export bundle measured again by <code>speechnas monitor --bundle DIR</code> "
        "against the latency it recorded when it was exported; the band is the "
        "measurement's own noise (at least the monitor's tolerance).</p>",
    ]
    unchecked = []
    for f, bundle in bundles:
        history = bundle / HISTORY
        runs = read_history(history) if history.exists() else []
        if not runs:
            unchecked.append(f"trial {f['trial']} (<code>{html.escape(str(bundle))}</code>)")
            continue
        image = plot_history(history, out_dir / f"drift_trial{f['trial']}.png")
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
            f"<h3>Trial {f['trial']}: {len(runs)} check(s), the latest {html.escape(last['time'])}"
            f" on {html.escape(str(last['cpu']))}, {last['threads']} thread(s)</h3>",
            f'<img src="{image.name}" alt="{image.stem}">',
            "<table><tr><th>variant</th><th>figure</th><th>recorded ms</th>"
            f"<th>measured ms</th><th>band ms</th><th>status</th></tr>{rows}</table>",
        ]
    if unchecked:
        parts.append("<p>Not checked yet: " + ", ".join(unchecked) + ".</p>")
    return parts
