"""Rewriting one named section of a Markdown file, leaving the rest untouched.

Benchmark scripts own a section each, delimited by ``<!-- KEY:begin -->`` and
``<!-- KEY:end -->``; re-running a script replaces its section in place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["markdown_table", "update_section"]


def update_section(path: str | os.PathLike[str], key: str, title: str, body: str) -> Path:
    """Replace section ``key`` of ``path`` with ``body``, or append it under ``## title``.

    Args:
        path: the Markdown file (created with a ``# Benchmarks`` heading if missing).
        key: section id used in the markers.
        title: heading written when the section is new.
        body: Markdown to put between the markers.
    """
    p = Path(path)
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = p.read_text(encoding="utf-8") if p.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + f"\n\n## {title}\n\n{block}\n"
    p.write_text(text, encoding="utf-8")
    return p


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, left: int = 1
) -> str:
    """A Markdown table: the first ``left`` columns left-aligned, the others right-aligned.

    Cells are written with ``str``; a ``|`` inside a cell is escaped.
    """

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    align = ["---" if i < left else "---:" for i in range(len(header))]
    return "\n".join([line(header), "|" + "|".join(align) + "|", *(line(r) for r in rows)])
