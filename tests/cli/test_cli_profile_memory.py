"""``speechnas profile --export-memory``: real measurements (a fresh process per model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.cli import main
from speechnas.hardware.memory import MemoryModel, peak_memory_unavailable


@pytest.mark.skipif(peak_memory_unavailable() is not None, reason=str(peak_memory_unavailable()))
def test_export_memory_writes_and_extends_a_memory_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "memory.json"
    base = ["profile", "--export-memory", str(out), "--table-seconds", "1", "--seed", "3"]
    assert main([*base, "--specs", "2"]) == 0
    first = MemoryModel.load(out)
    assert len(first) == 2 and (first.audio_s, first.threads) == (1.0, 1)
    assert first.machine["versions"]["torch"]
    for r in first.records:
        assert r.inference_mb > 0 and r.weights_mb > 0 and r.audio_s == 1.0
    assert main([*base, "--specs", "3"]) == 0  # the first two are not measured again
    extended = MemoryModel.load(out)
    assert extended.records[:2] == first.records and len(extended) == 3
    assert "3 models, 1 measured now" in capsys.readouterr().out
    # Another thread count or audio length belongs in another file.
    assert main([*base, "--specs", "3", "--threads", "2"]) == 2
    assert f"{out} holds memory measured on 1 s of audio with 1 thread(s)" in (
        capsys.readouterr().err
    )
    assert main([*base[:-4], "--table-seconds", "2", "--specs", "3"]) == 2


def test_export_memory_bad_input_names_the_file_or_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "memory.json"
    out.write_text(json.dumps({"version": 1, "audio_s": 5.0, "threads": 1, "machine": {}}))
    assert main(["profile", "--export-memory", str(out)]) == 2
    assert f"{out}: memory table is missing the field 'records'" in capsys.readouterr().err
    out.write_text("[]")
    assert main(["profile", "--export-memory", str(out)]) == 2
    assert f"{out}: memory table version None" in capsys.readouterr().err
    assert main(["profile", "--export-memory", str(out), "--export", "lut.json"]) == 2
    assert "give one" in capsys.readouterr().err
    assert main(["profile", "--export-memory", str(out), "--target", "cpu-onnx"]) == 2
    assert "--target" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["profile", "--export-memory", str(out), "--specs", "0"])
    assert stop.value.code == 2
