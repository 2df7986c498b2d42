"""``speechnas search --help`` names what a config may use, from lists held equal to the
registries, without importing torch or Optuna."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

from speechnas.cli import main
from speechnas.search.choices import CONSTRAINTS, PRUNERS, STRATEGY_NAMES
from speechnas.search.config import Constraints, FidelityConfig
from speechnas.search.objectives import OBJECTIVES
from speechnas.search.strategies import STRATEGIES


def test_the_lists_are_the_registries() -> None:
    assert set(STRATEGY_NAMES) == set(STRATEGIES)
    assert PRUNERS == typing.get_args(typing.get_type_hints(FidelityConfig)["pruner"])
    assert CONSTRAINTS == tuple(f.name for f in dataclasses.fields(Constraints))
    # Every limit is on a metric a search can also minimise.
    assert {c.removeprefix("max_") for c in CONSTRAINTS} <= set(OBJECTIVES)


def test_search_help_names_strategies_pruners_and_objectives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["search", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in (*STRATEGY_NAMES, *PRUNERS, *OBJECTIVES):
        assert name in text


def test_the_cli_starts_without_torch_or_optuna() -> None:
    code = "import sys, speechnas.cli; print('torch' in sys.modules, 'optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
