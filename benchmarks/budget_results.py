"""A benchmark's results kept by budget in one JSON file.

Each budget (a string naming what the run was given) keeps its own results, so a run with
another budget neither reads nor overwrites them; ``latest`` names the budget last saved,
which the report is drawn from. Every save rewrites the file whole through a temporary file,
so an interrupted run never leaves it half written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class BudgetResults:
    """The results file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _every(self) -> dict[str, Any]:
        every: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        return every

    def load(self, budget: str) -> dict[str, Any]:
        """``budget``'s results (empty if none; :meth:`save` writes them back)."""
        results: dict[str, Any] = self._every().get(budget, {})
        return results

    def save(self, budget: str, results: dict[str, Any]) -> None:
        every = self._every()
        every[budget] = results
        every["latest"] = budget
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(every, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.path)

    def latest(self) -> dict[str, Any]:
        """The results of the budget saved last (empty if none)."""
        every = self._every()
        results: dict[str, Any] = every.get(every.get("latest", ""), {})
        return results
