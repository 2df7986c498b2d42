"""Reports: Markdown tables and sections for run reports and BENCHMARKS.md."""

from __future__ import annotations

from speechnas.reports.markdown import update_section

__all__ = ["update_section"]
