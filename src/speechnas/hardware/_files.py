"""Writing the hardware tables (latency, memory) to disk."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_json"]


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``data`` to ``path`` as JSON atomically (beside it, then renamed), so a table
    saved while it grows is never left half written."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, out)
    return out
