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


def test_plot_history_writes_png(tmp_path: Path) -> None:
    from speechnas.reports import plot_history

    history = tmp_path / "history.jsonl"
    history.write_text(
        '{"epoch": 1, "train_loss": 3.0}\n'
        '{"epoch": 2, "train_loss": 2.0, "dev_wer": 0.9, "dev_cer": 0.5}\n'
    )
    out = plot_history(history, tmp_path / "c.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_table_aligns_and_escapes() -> None:
    from speechnas.reports import markdown_table

    text = markdown_table(["name", "arch", "WER"], [["a", "x | y", "1.0%"]], left=2)
    assert text.splitlines() == [
        "| name | arch | WER |",
        "|---|---|---:|",
        "| a | x \\| y | 1.0% |",
    ]
