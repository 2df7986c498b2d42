"""Reports: Markdown tables and sections, training curves and plain-words quality, for run
reports and BENCHMARKS.md. The search report is beside the search
(:mod:`speechnas.search.report_page`)."""

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
