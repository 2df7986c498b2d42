"""The package's structure, drawn from its import graph: packages as boxes in their layers
(lowest at the bottom), imports between packages as arrows, each coloured by whether it
points down (allowed) or up or sideways (what ``tests/test_layering.py`` forbids).

Not a timing: it reads the source with :mod:`ast` (every import counts, those inside
functions and under ``TYPE_CHECKING`` included), writes ``benchmarks/figures/structure.png``
and the "Code structure" section of BENCHMARKS.md.

    .venv/bin/python benchmarks/structure.py
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from speechnas.reports import update_section  # noqa: E402
from speechnas.testing.layering import (  # noqa: E402
    LAYERS,
    circles,
    import_graph,
    top_level,
    upward_imports,
)

REPO = Path(__file__).resolve().parents[1]
FIGURE = REPO / "benchmarks" / "figures" / "structure.png"


def package_edges(graph: dict[str, set[str]]) -> Counter[tuple[str, str]]:
    """Imports between top-level packages, counted by module pair."""
    edges: Counter[tuple[str, str]] = Counter()
    for module, targets in graph.items():
        for target in targets:
            a, b = top_level(module), top_level(target)
            if a != b:
                edges[(a, b)] += 1
    return edges


def draw(edges: Counter[tuple[str, str]]) -> None:
    where: dict[str, tuple[float, float]] = {}
    for row, layer in enumerate(LAYERS):
        names = sorted(layer)
        for col, name in enumerate(names):
            where[name] = ((col + 1) / (len(names) + 1), row)
    fig, ax = plt.subplots(figsize=(9, 11))
    level = {name: row for row, layer in enumerate(LAYERS) for name in layer}
    for (a, b), count in sorted(edges.items()):
        (x0, y0), (x1, y1) = where[a], where[b]
        down = level[b] < level[a]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.18),
            xytext=(x0, y0 - 0.18),
            arrowprops={
                "arrowstyle": "->",
                "color": "0.75" if down else "red",
                "lw": 0.4 + 0.15 * min(count, 10),
                "shrinkA": 4,
                "shrinkB": 4,
            },
        )
    for name, (x, y) in where.items():
        label = "speechnas" if name == "__init__" else name
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "#e8f0fe", "ec": "#4a6fa5"},
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, len(LAYERS) - 0.3)
    ax.axis("off")
    ax.set_title("speechnas: packages by layer (bottom: lowest); grey arrows point down")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def main() -> None:
    graph = import_graph()
    edges = package_edges(graph)
    upward = upward_imports(graph, LAYERS)
    loops = circles(graph)
    draw(edges)
    imports = sum(len(t) for t in graph.values())
    text = "\n".join(
        [
            "Drawn by `benchmarks/structure.py` from the import graph of `src/speechnas` "
            "(read with `ast`: every import counts, those inside functions and under "
            "`TYPE_CHECKING` included), against the table of layers in "
            "`speechnas.testing.layering` that `tests/test_layering.py` checks.",
            "",
            f"- {len(graph)} modules, {imports} imports between them, "
            f"{sum(edges.values())} of them between {len(LAYERS)} layers' packages "
            f"({len(edges)} package pairs)",
            f"- imports that point up or sideways: {len(upward)}",
            f"- circles of modules importing one another: {len(loops)}",
            "",
            "![structure](benchmarks/figures/structure.png)",
        ]
    )
    update_section(REPO / "BENCHMARKS.md", "structure", "Code structure", text)
    print(text)


if __name__ == "__main__":
    main()
