"""What a streaming model waits for, as an objective and as a limit that prunes for free."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechnas.search.config import search_config_from_dict
from speechnas.search.reporting import write_report
from speechnas.search.runner import open_store, run_search
from speechnas.testing.search import tiny_search


def test_a_lookahead_limit_prunes_full_context_models_before_training(tmp_path: Path) -> None:
    config = search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=3,
            strategy="random",
            strategy_options={},
            objectives=["wer", "algorithmic_latency_ms"],
            constraints={"max_lookahead_ms": 100},
        )
    )
    run_search(config, progress=False)
    records = [r for r in open_store(config, for_search=False).records() if r.cached_from is None]
    assert records
    for r in records:  # the tiny space has no streaming: every model reads the whole second
        assert r.state == "PRUNED" and r.rung == -1
        assert r.reason == "constraint: lookahead_ms 1000 > 100"
        assert r.metrics["algorithmic_latency_ms"] == 1000.0


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_streaming_space_is_scored_by_what_it_waits_for(tmp_path: Path) -> None:
    base = tiny_search(tmp_path)
    space = {
        **base["space"],
        "encoders": ["conformer"],
        "streaming": "on",
        "chunks": [4],
        "left_contexts": [8],
        "lookaheads": [0, 2],
    }
    config = search_config_from_dict(
        {
            **base,
            "space": space,
            "n_trials": 2,
            "strategy": "random",
            "strategy_options": {},
            "objectives": ["wer", "chunk_latency_ms"],
            "constraints": {"max_algorithmic_latency_ms": 320},
        }
    )
    run_search(config, progress=False)
    records = [r for r in open_store(config, for_search=False).records() if r.rung >= 0]
    assert records
    for r in records:
        assert r.spec is not None and r.spec.streaming is not None
        ahead = r.spec.streaming.lookahead
        assert r.metrics["algorithmic_latency_ms"] == (4 + ahead) * r.spec.frame_ms <= 320
        assert r.metrics["chunk_latency_ms"] > 0
        if r.state == "COMPLETE":
            assert r.values["chunk_latency_ms"] == r.metrics["chunk_latency_ms"]


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_search_selects_by_the_int8_export(tmp_path: Path) -> None:
    config = search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=2,
            strategy="random",
            strategy_options={},
            objectives=["wer_int8", "int8_latency_ms"],
        )
    )
    run_search(config, progress=False)
    records = [r for r in open_store(config, for_search=False).records() if r.rung >= 0]
    complete = [r for r in records if r.state == "COMPLETE"]
    assert complete
    for r in complete:
        m = r.metrics
        assert 0 <= m["wer_int8"] and 0 <= m["cer_int8"] <= 1.5 and m["int8_latency_ms"] > 0
        assert r.values == {"wer_int8": m["wer_int8"], "int8_latency_ms": m["int8_latency_ms"]}
        assert (
            config.run_dir / "trials" / f"{r.number:04d}" / "int8" / "model.int8.onnx"
        ).is_file()
    for r in records:
        if r.state == "PRUNED":  # stopped short of the ladder: no export, no values
            assert "wer_int8" not in r.metrics
    page = write_report(config).read_text()
    assert "The front in FP32 and as its INT8 export" in page


def test_the_streaming_recipe_bounds_what_a_model_waits_for_and_computes() -> None:
    from speechnas.search.config import load_search_config

    repo = Path(__file__).resolve().parents[2]
    config = load_search_config(repo / "recipes" / "speechocean762" / "streaming.yaml")
    assert config.space.streaming == "on"
    assert config.objectives == ("wer", "chunk_latency_ms")
    limits = config.constraints.limits()
    assert limits["algorithmic_latency_ms"] == 320 and limits["chunk_latency_ms"] > 0
