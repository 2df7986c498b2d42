"""The progress bar of a running search: trials done of the budget, best value, front size."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from speechnas.search.config import SearchConfig
from speechnas.search.store import SearchStore
from speechnas.search.summary import SearchSummary, summarise

__all__ = ["SearchProgress", "progress_bar"]


def progress_bar(enabled: bool) -> Progress:
    """A rich progress bar on stderr (hidden unless ``enabled``)."""
    return Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


class SearchProgress:
    """A search's line on ``bar``: ``done(summary)`` of ``total``, re-read from the study."""

    def __init__(
        self,
        bar: Progress,
        store: SearchStore,
        config: SearchConfig,
        total: int,
        done: Callable[[SearchSummary], int],
    ) -> None:
        self.bar, self.store, self.config, self.total, self.done = bar, store, config, total, done
        self.task = bar.add_task("search", total=total, completed=0, status="")

    def update(self, note: str = "") -> SearchSummary:
        """Re-read the study, show where the search stands (and ``note``), return it."""
        summary = summarise(self.store.records(), self.config.objectives)
        summary.budget = self.total
        summary.progress = self.done(summary)
        objective = self.config.objectives[0]
        best = "-" if summary.best is None else f"{summary.best.values[objective]:.3f}"
        status = f"best {objective} {best} | front {len(summary.front)}"
        status += f" | {note}" if note else ""
        self.bar.update(self.task, completed=min(summary.progress, self.total), status=status)
        return summary
