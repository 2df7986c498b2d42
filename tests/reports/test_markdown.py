from __future__ import annotations

from pathlib import Path

from speechnas.reports import update_section


def test_update_section_appends_then_replaces(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    update_section(path, "a", "Section A", "| x |\n| 1 |")
    update_section(path, "b", "Section B", "b body")
    update_section(path, "a", "Section A", "| x |\n| 2 |")
    text = path.read_text()
    assert text.startswith("# Benchmarks")
    assert "| 2 |" in text and "| 1 |" not in text
    assert text.count("## Section A") == 1
    assert text.index("Section A") < text.index("Section B")
