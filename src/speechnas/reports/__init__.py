"""Reports: Markdown tables and sections for run reports and BENCHMARKS.md."""

from __future__ import annotations

from speechnas.reports.curves import plot_history, read_history
from speechnas.reports.markdown import markdown_table, update_section
from speechnas.reports.quality import PLATEAU_CER, describe_quality

__all__ = [
    "PLATEAU_CER",
    "describe_quality",
    "markdown_table",
    "plot_history",
    "read_history",
    "update_section",
]
