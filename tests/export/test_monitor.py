"""Drift monitoring: an unchanged bundle stays within its band, a slowed one fails, every
check lands in the history."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch

from speechnas.arch import ArchSpec, StreamingSpec
from speechnas.cli import main
from speechnas.export import export_bundle
from speechnas.export.monitor import check_drift, read_history
from speechnas.models import build_model
from speechnas.recognizer import Recognizer
from speechnas.text import build_tokenizer

SPEC = ArchSpec.uniform(num_layers=2, width=16, heads=2, kernel=3, n_mels=40)


def _bundle(tmp_path: Path, spec: ArchSpec = SPEC) -> Path:
    torch.manual_seed(0)
    tokenizer = build_tokenizer("char", ["yes no"])
    model = build_model(spec, vocab_size=tokenizer.vocab_size, specaugment=False)
    out = tmp_path / "bundle"
    export_bundle(model, spec, tokenizer, out, precisions=("fp32",), latency_s=1.0, repeats=5)
    return out


class _Slowed:
    """A recogniser that takes 0.3 s longer (the bundle's model takes milliseconds)."""

    def __init__(self, inner: Recognizer) -> None:
        self.inner = inner

    def transcribe_ids(self, wave: torch.Tensor, wave_lens: torch.Tensor) -> list[list[int]]:
        time.sleep(0.3)
        return self.inner.transcribe_ids(wave, wave_lens)


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_slowed_bundle_drifts_and_an_unchanged_one_does_not(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    # A wide band (ten times the recorded figure): on a busy machine an unchanged model still
    # lands inside it; a 0.3 s delay on a model of a few milliseconds never does.
    same = check_drift(bundle, tolerance=10.0, repeats=5)
    assert [f.variant for f in same] == ["pytorch", "onnx-fp32"]
    assert all(f.status != "slower" for f in same)
    slowed = check_drift(bundle, tolerance=10.0, repeats=3, wrap=_Slowed)
    assert all(f.measured_ms > 300 for f in slowed)
    assert all(f.status == "slower" for f in slowed if f.recorded_ms * 11 < 300), slowed
    runs = read_history(bundle / "monitor.jsonl")
    assert [len(r["figures"]) for r in runs] == [2, 2]
    assert runs[1]["figures"][0]["status"] == "slower" and runs[0]["threads"] >= 1


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_the_command_exits_1_on_drift_and_draws_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import speechnas.export.monitor as monitor

    bundle = _bundle(tmp_path)
    argv = ["monitor", "--bundle", str(bundle), "--tolerance", "10", "--repeats", "3"]
    assert main([*argv, "--plot", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").stat().st_size > 1000
    real = monitor._recognizer
    monkeypatch.setattr(monitor, "_recognizer", lambda *a: _Slowed(real(*a)))
    assert main(argv) == 1
    assert "drifted beyond the band: pytorch latency, onnx-fp32 latency" in capsys.readouterr().out
    assert main(["monitor", "--bundle", str(tmp_path)]) == 2  # not a bundle


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_streamed_bundle_is_checked_per_chunk_too(tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, streaming=StreamingSpec(chunk=4, left_context=8))
    bundle = _bundle(tmp_path, spec)
    figures = check_drift(bundle, tolerance=1.0, repeats=3)
    whats = {(f.variant, f.what) for f in figures}
    assert ("onnx-stream-fp32", "chunk") in whats
    recorded = json.loads((bundle / "export.json").read_text())["variants"]
    chunked = {v["name"]: v["chunk_ms"] for v in recorded if v.get("chunk_ms")}
    assert all(f.recorded_ms == chunked[f.variant] for f in figures if f.what == "chunk")
