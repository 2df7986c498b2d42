"""Search drivers: every strategy has one, and the runner asks it, not the strategy's name."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import speechnas.search.runner as runner_module
from speechnas.search.config import search_config_from_dict
from speechnas.search.drivers import (
    DartsDriver,
    SearchDriver,
    SupernetDriver,
    TrialDriver,
    driver_for,
)
from speechnas.search.strategies import STRATEGIES, WEIGHT_SHARING
from speechnas.search.summary import SearchSummary
from speechnas.testing.search import tiny_search


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_has_a_driver_that_keeps_the_contract(name: str, tmp_path: Path) -> None:
    driver = driver_for(name)
    assert isinstance(driver, SearchDriver)
    # one shared model is trained: the study is the driver's alone while it runs
    assert driver.exclusive == (name in WEIGHT_SHARING)
    config = search_config_from_dict(tiny_search(tmp_path, strategy=name, strategy_options={}))
    sentence = driver.describe(config)
    assert sentence.endswith(".") and len(sentence) > 20
    summary = SearchSummary(finished=5, complete=3)
    assert driver.done(summary) == (3 if name == "supernet" else 5)


def test_the_weight_sharing_strategies_have_their_own_drivers() -> None:
    assert type(driver_for("darts")) is DartsDriver and DartsDriver.queued_only
    assert type(driver_for("supernet")) is SupernetDriver
    assert type(driver_for("evolution")) is TrialDriver and not TrialDriver.queued_only


def test_the_runner_does_not_branch_on_strategy_names() -> None:
    tree = ast.parse(Path(runner_module.__file__).read_text())
    compared = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and "strategy" in ast.unparse(node.left)
    ]
    assert compared == []


def test_the_report_describes_a_search_through_its_driver(tmp_path: Path) -> None:
    config = search_config_from_dict(tiny_search(tmp_path))
    ladder = driver_for("evolution").describe(config)
    assert config.fidelity.signature in ladder
    darts = dataclasses.replace(config, strategy="darts", strategy_options={"targets_ms": [5]})
    assert ladder in driver_for("darts").describe(darts)
    assert "[5] ms" in driver_for("darts").describe(darts)
