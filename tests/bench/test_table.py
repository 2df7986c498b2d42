from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from speechnas.bench import ReferenceTable, kendall_tau, shipped_tables, spearman_rho
from speechnas.bench.table import DEFAULT_TABLE, FORMAT, run_key
from speechnas.errors import UserError
from speechnas.testing.bench import TABLE_SPECS as SPECS
from speechnas.testing.bench import table_data


def test_scores_are_the_mean_of_the_seeds_at_the_budget_or_an_epoch() -> None:
    table = ReferenceTable(table_data({0: [0.5, 0.6, 0.7, 0.8], 1: [0.7, 0.6, 0.9, 1.0]}))
    a = SPECS[0].arch_id
    assert table.score(a) == pytest.approx(0.6)
    assert table.score(a, "wer") == pytest.approx(0.8)
    assert table.score(a, epoch=1) == pytest.approx(0.95)
    assert table.score(a, seeds=[1]) == pytest.approx(0.7)
    assert table.epochs() == [1.0, 2.0]
    assert table.training_cpu_seconds(a) == pytest.approx(60.5)
    assert list(table.scores()) == pytest.approx([0.6, 0.6, 0.8, 0.9])


def test_a_partial_table_reads_only_the_architectures_every_seed_finished() -> None:
    data = table_data({0: [0.5, 0.6, 0.7, 0.8], 1: [0.5, 0.6, 0.7, 0.8]})
    del data["runs"][run_key(SPECS[2].arch_id, 1)]
    table = ReferenceTable(data)
    assert table.complete() == [SPECS[0].arch_id, SPECS[1].arch_id, SPECS[3].arch_id]
    assert table.complete(seeds=[0]) == [s.arch_id for s in SPECS]


def test_seed_agreement_is_one_for_the_same_order_and_lower_for_another() -> None:
    same = ReferenceTable(table_data({0: [0.5, 0.6, 0.7, 0.8], 1: [0.6, 0.7, 0.8, 0.9]}))
    assert same.seed_agreement() == {"pair_tau": 1.0, "pair_rho": 1.0}
    swapped = ReferenceTable(table_data({0: [0.5, 0.6, 0.7, 0.8], 1: [0.6, 0.5, 0.7, 0.8]}))
    assert swapped.seed_agreement()["pair_tau"] == pytest.approx(2 / 3)
    three = ReferenceTable(
        table_data({0: [0.5, 0.6, 0.7, 0.8], 1: [0.5, 0.6, 0.7, 0.8], 2: [0.5, 0.6, 0.7, 0.8]})
    )
    assert three.seed_agreement()["one_vs_rest_tau"] == 1.0


def test_a_table_of_another_format_or_no_file_is_refused_by_name(tmp_path: Path) -> None:
    data = table_data({0: [0.5, 0.6, 0.7, 0.8]})
    wrong = copy.deepcopy(data)
    wrong["format"] = FORMAT + 1
    path = tmp_path / "new.json"
    path.write_text(json.dumps(wrong))
    with pytest.raises(UserError, match="new.json.*format"):
        ReferenceTable.load(path)
    with pytest.raises(UserError, match="no reference table 'nothing-here'"):
        ReferenceTable.load("nothing-here")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UserError, match="bad.json: not a reference table"):
        ReferenceTable.load(tmp_path / "bad.json")
    path.write_text(json.dumps(data))
    assert ReferenceTable.load(path).complete() == [s.arch_id for s in SPECS]


def test_the_shipped_table_reads_and_its_runs_are_complete_records() -> None:
    assert DEFAULT_TABLE in shipped_tables()
    table = ReferenceTable.load()
    assert table.entries and table.runs
    for run in table.runs.values():
        entry = table.entries[run.arch_id]
        assert entry.spec.arch_id == run.arch_id
        assert [c.epoch for c in run.curve] == sorted(c.epoch for c in run.curve)
        assert all(0.0 <= c.dev_cer for c in run.curve)
        assert run.cpu_seconds > 0 and len(run.step_losses) >= run.curve[0].step
    families = {e.family for e in table.entries.values()}
    assert families == set(table.space["encoders"])


def test_rank_agreement_of_orders_ties_and_constants() -> None:
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert spearman_rho([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)
    assert kendall_tau([1, 1, 1], [1, 2, 3]) == 0.0
    assert spearman_rho(np.array([1.0, 2.0]), np.array([5.0, 5.0])) == 0.0
    with pytest.raises(ValueError, match="same architectures"):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        spearman_rho([1], [1])
