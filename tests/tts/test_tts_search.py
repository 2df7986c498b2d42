"""The search loop on a TTS task: the same runner, strategies, database and report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from speechnas.arch.tts import TTSSpec
from speechnas.errors import ConfigError
from speechnas.search.config import SearchConfig, search_config_from_dict
from speechnas.search.reporting import write_report
from speechnas.search.runner import open_store, run_search
from speechnas.tts import TTSCorpus
from speechnas.tts.train import load_tts_checkpoint

SPACE = {
    "widths": [32],
    "min_encoder_layers": 1,
    "max_encoder_layers": 2,
    "min_decoder_layers": 1,
    "max_decoder_layers": 1,
    "blocks": ["conv", "dsconv", "transformer"],
    "kernels": [3],
    "heads": [2],
    "ffn_expansions": [2.0],
    "duration_layers": [1],
    "pitch": [False, True],
    "energy": [False],
}


def _config(corpus: Path, out: Path, **overrides: Any) -> SearchConfig:
    data: dict[str, Any] = {
        "name": "tts",
        "out_root": str(out),
        "tts": {
            "corpus": str(corpus),
            "held_out": 2,
            "intelligibility": 0,
            "space": SPACE,
            "batch_frames": 2000,
            "warmup_steps": 1,
            "threads": 1,
        },
        "strategy": "random",
        "n_trials": 3,
        "objectives": ["mcd_db", "latency_ms"],
        "latency_repeats": 1,
        "fidelity": {"rungs": [{"fraction": 0.5, "steps": 2}, {"fraction": 1, "steps": 3}]},
    }
    data.update(overrides)
    return search_config_from_dict(data)


@pytest.fixture(scope="module")
def saved(corpus: TTSCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus.save(tmp_path_factory.mktemp("tts-search") / "corpus.pt")


@pytest.fixture(scope="module")
def searched(saved: Path, tmp_path_factory: pytest.TempPathFactory) -> SearchConfig:
    config = _config(saved, tmp_path_factory.mktemp("runs"))
    run_search(config, progress=False)
    return config


def test_a_tts_search_trains_scores_and_records_models_of_its_space(
    searched: SearchConfig,
) -> None:
    assert searched.tts is not None
    records = open_store(searched, for_search=False).records()
    assert [r.state for r in records] == ["COMPLETE"] * 3  # no pruner stops one of three
    for r in records:
        assert isinstance(r.spec, TTSSpec) and searched.tts.space.contains(r.spec)
        assert math.isfinite(r.metrics["mcd_db"]) and r.metrics["mcd_db"] > 0
        assert r.values == {o: r.metrics[o] for o in searched.objectives}
        assert r.metrics["params"] > 0 and r.metrics["rtf"] > 0
        assert [p["step"] for p in r.curve if "mcd_db" in p] == [2, 5]  # 2, then 3 more
        assert r.checkpoint is not None
        model, _, _, state = load_tts_checkpoint(r.checkpoint)
        assert TTSSpec.from_dict(state["tts_spec"]) == r.spec
        assert sum(p.numel() for p in model.parameters()) == r.metrics["params"]


def test_a_tts_search_resumes_and_repeats_itself(searched: SearchConfig, tmp_path: Path) -> None:
    first = open_store(searched, for_search=False).records()
    again = run_search(searched, progress=False)  # the budget is met: nothing new
    assert again.progress == 3
    assert len(open_store(searched, for_search=False).records()) == 3
    twin = SearchConfig(**{**searched.__dict__, "out_root": str(tmp_path)})
    run_search(twin, progress=False)
    second = open_store(twin, for_search=False).records()
    assert [r.arch_id for r in second] == [r.arch_id for r in first]
    assert [r.metrics["mcd_db"] for r in second] == [r.metrics["mcd_db"] for r in first]


def test_the_report_plots_tts_scores_and_plays_the_front(searched: SearchConfig) -> None:
    page = write_report(searched).read_text()
    assert "MCD (dB)" in page and "WER %" not in page
    assert "listen/index.html" in page
    listen = searched.run_dir / "report" / "listen"
    assert (listen / "index.html").is_file() and list(listen.glob("*.wav"))
    assert (searched.run_dir / "report" / "pareto_mcd_db_latency.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"objectives": ["wer"]}, "are a recogniser's"),
        ({"strategy": "darts"}, "searches recognisers only"),
        ({"fidelity": {"rungs": [{"fraction": 1, "epochs": 2}]}}, "budget is steps only"),
        ({"constraints": {"max_memory_mb": 10}}, "measures latency_ms and params"),
        ({"objectives": ["intelligibility_cer"]}, "needs tts.intelligibility > 0"),
        ({"data": {"train_manifest": "a", "dev_manifest": "b"}}, "remove data and space"),
    ],
)
def test_a_tts_config_that_cannot_run_is_refused_by_name(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path / "corpus.pt", tmp_path, **change)


def test_a_recogniser_config_refuses_tts_objectives(tmp_path: Path) -> None:
    data = {"name": "x", "data": {"train_manifest": "a", "dev_manifest": "b"}}
    with pytest.raises(ConfigError, match="score speech synthesis"):
        search_config_from_dict({**data, "objectives": ["mcd_db"]})


def test_a_missing_corpus_is_a_user_error(tmp_path: Path) -> None:
    from speechnas.errors import UserError

    with pytest.raises(UserError, match="no such file"):
        run_search(_config(tmp_path / "absent.pt", tmp_path), progress=False)


def test_results_picks_the_best_mcd_within_a_budget_as_a_spec_tts_train_reads(
    searched: SearchConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from speechnas.cli import main

    records = open_store(searched, for_search=False).records()
    best = min(records, key=lambda r: r.metrics["mcd_db"])
    assert main(["results", "--run", str(searched.run_dir), "--max-params", "100000000"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-2].startswith(f"selected trial {best.number}:")
    assert TTSSpec.from_dict(json.loads(printed[-1])) == best.spec
