"""A search whose dev set holds several languages: per-language scores, the language
objectives, and a limit on the worst language's CER stopping a trial."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from speechnas.cli import main
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.search.config import search_config_from_dict
from speechnas.search.objectives import language_metrics
from speechnas.search.reporting import write_report
from speechnas.search.runner import open_store, run_search
from speechnas.testing.search import tiny_search


def test_language_metrics_of_one_and_of_several_languages() -> None:
    assert language_metrics(0.5, 0.2, None) == {
        "mean_wer": 0.5,
        "mean_cer": 0.2,
        "worst_wer": 0.5,
        "worst_cer": 0.2,
    }
    got = language_metrics(
        0.5, 0.3, {"ja": {"wer": 0.4, "cer": 0.4}, "de": {"wer": 0.8, "cer": 0.1}}
    )
    assert got["cer_ja"] == 0.4 and got["wer_de"] == 0.8
    assert got["mean_cer"] == pytest.approx(0.25) and got["worst_cer"] == 0.4
    assert got["mean_wer"] == pytest.approx(0.6) and got["worst_wer"] == 0.8


def _bilingual(tmp_path: Path, **changes: object) -> dict[str, object]:
    config = tiny_search(tmp_path, **changes)
    dev = Path(config["data"]["dev_manifest"])  # type: ignore[index]
    utts = read_manifest(dev)
    mixed = [dataclasses.replace(u, language="de" if i % 2 else "en") for i, u in enumerate(utts)]
    write_manifest(mixed, dev)
    return config


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_bilingual_dev_set_scores_every_trial_per_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = search_config_from_dict(
        _bilingual(
            tmp_path,
            n_trials=3,
            strategy="random",
            strategy_options={},
            objectives=["mean_cer", "params"],
        )
    )
    run_search(config, progress=False)
    records = [r for r in open_store(config, for_search=False).records() if r.rung >= 0]
    assert records
    for r in records:
        m = r.metrics
        assert {"cer_de", "cer_en", "wer_de", "wer_en"} <= m.keys()
        assert m["mean_cer"] == pytest.approx((m["cer_de"] + m["cer_en"]) / 2)
        assert m["worst_cer"] == max(m["cer_de"], m["cer_en"])
        if r.state == "COMPLETE":
            assert r.values["mean_cer"] == pytest.approx(m["mean_cer"])
    # The results table and the report show each language.
    monkeypatch.setenv("COLUMNS", "300")  # a console wide enough for every column
    assert main(["results", "--run", str(config.run_dir), "--front"]) == 0
    out = capsys.readouterr().out
    for column in ("mean CER %", "worst CER %", "CER % de", "CER % en"):
        assert column in out
    page = write_report(config).read_text()
    assert "The front by language" in page and "front_languages.png" in page
    assert (config.run_dir / "report" / "front_languages.png").is_file()


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_limit_on_the_worst_language_stops_a_trained_trial(tmp_path: Path) -> None:
    config = search_config_from_dict(
        _bilingual(
            tmp_path,
            n_trials=2,
            strategy="random",
            strategy_options={},
            objectives=["worst_cer", "params"],
            constraints={"max_worst_cer": 1e-6},  # no model here gets every character right
        )
    )
    run_search(config, progress=False)
    records = [r for r in open_store(config, for_search=False).records() if r.rung >= 0]
    assert records
    for r in records:
        assert r.state == "PRUNED"
        assert r.reason.startswith("constraint: worst_cer ")
        assert r.metrics["worst_cer"] > 1e-6


def test_predicted_front_refuses_a_language_objective(tmp_path: Path) -> None:
    rungs = [{"fraction": 1.0, "steps": 5}, {"fraction": 1.0, "steps": 10}]
    with pytest.raises(Exception, match="predicts dev WER and CER, not \\['mean_cer'\\]"):
        search_config_from_dict(
            tiny_search(
                tmp_path,
                objectives=["mean_cer", "params"],
                fidelity={"rungs": rungs, "pruner": "predicted_front"},
            )
        )


def test_a_dev_sample_keeps_every_language(tmp_path: Path) -> None:
    from speechnas.search.fidelity import dev_manifest

    config = search_config_from_dict(
        _bilingual(tmp_path, fidelity={"rungs": [{"fraction": 1.0, "epochs": 1}]})
    )
    for n, expected in ((2, {"de": 1, "en": 1}), (5, {"de": 3, "en": 2})):
        sampled = read_manifest(
            dev_manifest(
                dataclasses.replace(
                    config, fidelity=dataclasses.replace(config.fidelity, dev_utterances=n)
                )
            )
        )
        counts = {x: sum(u.language == x for u in sampled) for x in ("de", "en")}
        assert counts == expected


def test_the_commonvoice_recipe_searches_over_languages() -> None:
    from speechnas.search.config import load_search_config

    repo = Path(__file__).resolve().parents[2]
    config = load_search_config(repo / "recipes" / "commonvoice" / "search.yaml")
    assert config.objectives[0] == "mean_cer"
    assert config.constraints.max_worst_cer is not None
    # The languages it names in its preparation command: at least 10.
    text = (repo / "recipes" / "commonvoice" / "search.yaml").read_text()
    codes = text.split("--languages ", 1)[1].split()[0].split(",")
    assert len(codes) >= 10
