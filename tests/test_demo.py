from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest

from speechnas.cli import main


@pytest.mark.skipif(
    not any(shutil.which(b) for b in ("espeak-ng", "flite", "festival")),
    reason="no offline TTS engine installed (apt-get install espeak-ng flite festival)",
)
@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_demo_end_to_end_small(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "demo"
    args = [
        "demo",
        "--out",
        str(out),
        "--hours",
        "0.03",
        "--trials",
        "3",
        "--rung-steps",
        "2",
        "--final-epochs",
        "1",
        "--no-progress",
    ]
    assert main(args) == 0
    payload = json.loads((out / "results.json").read_text())
    assert payload["trials"] == 3 and payload["front"]
    (final,) = payload["final"]
    assert set(final["scores"]) == {"dev", "test"}
    assert (out / "search" / "best.pt").is_file()
    assert (out / "search" / "report" / "pareto_wer_latency.png").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "## Pareto front" in report and "- test: WER" in report
    assert "**How good the winner is, on test voices it never heard:**" in report
    assert "continuing from its trial's weights" in report  # the search's training is kept
    assert final["from_trial_seconds"] > 0
    assert "export `onnx-int8`" in report  # the best model, exported and measured
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    # Run again: everything is found finished, nothing is trained again.
    assert main(args) == 0
    assert json.loads((out / "results.json").read_text())["trials"] == 3
    # A search left by a demo of other settings (an older speechnas) is kept, not reused,
    # with the demo's report of it.
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{out / 'search/study.db'}")
    older = study.user_attrs["config"]
    older["fidelity"]["dev_utterances"] += 1
    study.set_user_attr("config", older)
    assert main(args) == 0
    assert "it is kept as" in caplog.text and "fidelity" in caplog.text
    kept = out / "search-previous-1"
    assert (kept / "report.md").is_file() and (kept / "results.json").is_file()
    assert (
        len(
            optuna.load_study(study_name="search", storage=f"sqlite:///{kept / 'study.db'}").trials
        )
        >= 3
    )
    assert json.loads((out / "results.json").read_text())["trials"] == 3
    # Another corpus (--hours) is another search too: the data key alone may change on resume.
    caplog.clear()
    assert main([*args[:4], "0.04", *args[5:]]) == 0
    assert "(hours)" in caplog.text and (out / "search-previous-2" / "study.db").is_file()
