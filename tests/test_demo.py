from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from speechnas.cli import main


@pytest.mark.skipif(
    not any(shutil.which(b) for b in ("espeak-ng", "flite", "festival")),
    reason="no offline TTS engine installed (apt-get install espeak-ng flite festival)",
)
def test_demo_end_to_end_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--hours", "0.03", "--epochs", "1"])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "| trained | test |" in report and "| untrained | test |" in report
    assert (out / "training_curves.png").stat().st_size > 1000
    payload = json.loads((out / "results.json").read_text())
    models = {(r["model"], r["name"]) for r in payload["results"]}
    assert models == {(m, s) for m in ("trained", "untrained") for s in ("dev", "test")}
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
