"""Dependencies point one way: the package's import graph against its table of layers
(:mod:`speechnas.testing.layering`)."""

from __future__ import annotations

import pytest

from speechnas.testing.layering import LAYERS, circles, import_graph, top_level, upward_imports


def test_every_top_level_module_has_a_layer() -> None:
    placed = set().union(*LAYERS)
    tops = {top_level(m) for m in import_graph()}
    assert tops - placed == set(), "place these in LAYERS"
    assert placed - tops == set(), "these are in LAYERS but not in the package"


def test_no_module_imports_upward() -> None:
    assert upward_imports(import_graph(), LAYERS) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert circles(import_graph()) == []


@pytest.mark.parametrize(
    ("graph", "broken"),
    [
        (
            {"speechnas.models.x": {"speechnas.search.y"}},
            ["speechnas.models.x -> speechnas.search.y"],
        ),
        (
            {"speechnas.darts.a": {"speechnas.supernet.b"}},
            ["speechnas.darts.a -> speechnas.supernet.b"],
        ),
        ({"speechnas.errors": {"speechnas"}}, ["speechnas.errors -> speechnas"]),
        ({"speechnas.search.a": {"speechnas.models.b", "speechnas.search.c"}}, []),
    ],
)
def test_the_checker_finds_upward_and_sideways_imports(
    graph: dict[str, set[str]], broken: list[str]
) -> None:
    assert upward_imports(graph, LAYERS) == broken


def test_the_checker_finds_a_circle_of_three() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
