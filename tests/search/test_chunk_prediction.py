"""A search for another target takes a streaming model's compute per chunk from the target's
latency table, and prunes on it before anything is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from speechnas.errors import UserError
from speechnas.hardware import TorchCPUTarget
from speechnas.hardware.tables import sample_specs
from speechnas.search.config import search_config_from_dict
from speechnas.search.runner import open_store, run_search
from speechnas.testing.hardware import chunk_ms, synthetic_table
from speechnas.testing.search import tiny_search

#: The target the table is "of": not this search's (1-thread PyTorch) machine.
OTHER = TorchCPUTarget(2).describe()


def _streaming_search(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    raw = tiny_search(tmp_path, strategy="random", strategy_options={}, **changes)
    raw["space"] |= {"streaming": "both", "chunks": [2, 4], "left_contexts": [8]}
    raw["space"] |= {"lookaheads": [0]}
    return raw


def test_chunk_latency_on_another_target_is_the_tables_prediction(tmp_path: Path) -> None:
    raw = _streaming_search(tmp_path, n_trials=8)
    space = search_config_from_dict(raw).space
    specs = sample_specs(space, 16, seed=5)
    synthetic_table(specs, OTHER, path=tmp_path / "lut.json")
    streaming = sorted(chunk_ms(s) for s in specs if s.streaming is not None)
    budget = streaming[len(streaming) * 2 // 3]
    config = search_config_from_dict(
        {
            **raw,
            "objectives": ["wer", "chunk_latency_ms"],
            "hardware": {"table": str(tmp_path / "lut.json"), "latency": "predicted"},
            "constraints": {"max_chunk_latency_ms": budget},
        }
    )
    run_search(config, progress=False)
    records = [
        r
        for r in open_store(config, for_search=False).records()
        if r.finished and r.cached_from is None
    ]
    pruned = [r for r in records if "chunk_latency_ms" in r.reason]
    trained = [r for r in records if r.rung >= 0]
    assert pruned and trained
    for r in records:
        assert r.spec is not None
        predicted = r.metrics["predicted_chunk_latency_ms"]
        if r.spec.streaming is None:  # its one chunk is the whole utterance
            assert predicted == r.metrics["predicted_latency_ms"]
        else:
            assert predicted == pytest.approx(chunk_ms(r.spec), rel=1e-6)
        if r in pruned:
            assert r.reason.startswith("predicted:") and r.rung == -1 and predicted > budget
            assert "chunk_latency_ms" not in r.metrics  # nothing was built to measure
        else:
            # The objective is the target's (the table's), not this machine's.
            assert r.metrics["chunk_latency_ms"] == predicted <= budget
            assert r.metrics["measured_chunk_latency_ms"] > 0
            assert r.values["chunk_latency_ms"] == predicted


def test_a_table_without_chunk_records_cannot_predict_them(tmp_path: Path) -> None:
    raw = _streaming_search(tmp_path, n_trials=1)
    space = search_config_from_dict(raw).space
    full = [s for s in sample_specs(space, 12, seed=0) if s.streaming is None]
    synthetic_table(full, OTHER, path=tmp_path / "lut.json")
    config = search_config_from_dict(
        {
            **raw,
            "objectives": ["wer", "chunk_latency_ms"],
            "hardware": {"table": str(tmp_path / "lut.json"), "latency": "predicted"},
        }
    )
    with pytest.raises(UserError, match="no chunk-by-chunk records.*profile streaming models"):
        run_search(config, progress=False)
