"""The package's import graph and its table of layers: what ``tests/test_layering.py`` checks
and ``benchmarks/structure.py`` draws.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``. A module
may import its own top-level package and the packages of lower layers; nothing above, and not
a different package of its own layer. No set of modules may import one another in a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["LAYERS", "PACKAGE", "circles", "import_graph", "top_level", "upward_imports"]

#: The package's source folder.
PACKAGE = Path(__file__).resolve().parents[1]

#: The layers, lowest first. A new top-level module or package must be placed here.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "_version errors",
        "_config_io _provenance device locking reports",
        "arch",
        "presets space",
        "text features",
        "data",
        "synth",
        "models",
        "recognizer",
        "timing",
        "evaluate",
        "export",
        "hardware",
        "train",
        "extract bench tts",
        "darts supernet",
        "estimators",
        "search",
        "demo testing",
        "cli",
        "__init__",  # the package root: its public API, above everything
    )
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the speechnas modules it imports (a ``from X import y`` of a submodule
    ``X.y`` is an import of ``X.y``; of a name, of ``X``)."""
    files = {(_module_name(p)): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                subs = {f"{base}.{a.name}" for a in node.names} & files.keys()
                targets.update(subs or {base})
        graph[name] = {t for t in targets if t.split(".")[0] == "speechnas"}
    return graph


def top_level(module: str) -> str:
    """The top-level package (or module) of ``module``; ``__init__`` for the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(
    graph: Mapping[str, Iterable[str]], layers: tuple[frozenset[str], ...]
) -> list[str]:
    """The imports that break the layer table, as ``module -> module`` lines."""
    level = {top: i for i, layer in enumerate(layers) for top in layer}
    out = []
    for module, targets in graph.items():
        for target in targets:
            a, b = top_level(module), top_level(target)
            if a != b and level[b] >= level[a]:
                out.append(f"{module} -> {target}")
    return sorted(out)


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(sorted(members))
    return found
