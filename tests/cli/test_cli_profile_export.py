from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.arch import ArchSpec
from speechnas.cli import main
from speechnas.data.manifest import write_manifest
from speechnas.hardware.lut import LatencyTable
from speechnas.testing.audio_fixtures import make_corpus

SPEC = {"encoder": "cnn", "n_mels": 40, "layers": [{"width": 16, "kernel": 3}]}


def test_profile_a_spec_on_two_targets(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "profile.json"
    args = ["profile", "--spec", str(spec), "--target", "cpu-torch", "--target", "cpu-onnx"]
    assert main([*args, "--seconds", "1", "2", "--repeats", "2", "--out", str(out)]) == 0
    profiles = json.loads(out.read_text())
    assert [p["target"]["target"] for p in profiles] == ["cpu-torch", "cpu-onnx"]
    for p in profiles:
        assert [u["audio_s"] for u in p["utterances"]] == [1.0, 2.0]
        assert p["target"]["threads"] == 1 and p["target"]["versions"]


def test_profile_errors_name_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", "--preset", "no-such-preset"]) == 2
    assert "no-such-preset" in capsys.readouterr().err
    assert main(["profile", "--preset", "cnn-ctc", "--target", "tpu"]) == 2
    assert "unknown target 'tpu'" in capsys.readouterr().err
    assert main(["profile", "--spec", str(tmp_path / "missing.json")]) == 2
    assert main(["profile"]) == 2
    assert "--export" in capsys.readouterr().err


def test_profile_export_writes_and_extends_a_table(tmp_path: Path) -> None:
    lut = tmp_path / "lut.json"
    base = ["profile", "--export", str(lut), "--table-seconds", "1", "--repeats", "2"]
    assert main([*base, "--specs", "2"]) == 0
    assert len(LatencyTable.load(lut).models) == 2
    assert main([*base, "--specs", "3"]) == 0  # the first two are not measured again
    table = LatencyTable.load(lut)
    assert len(table.models) == 3 and table.target["target"] == "cpu-torch"
    assert main([*base, "--specs", "3", "--threads", "2"]) == 2  # another target's file


def test_profile_export_measures_streaming_models_chunk_by_chunk(tmp_path: Path) -> None:
    lut = tmp_path / "lut.json"
    base = ["profile", "--export", str(lut), "--table-seconds", "1", "--repeats", "2"]
    assert main([*base, "--specs", "6"]) == 0
    table = LatencyTable.load(lut)
    streaming = {
        ArchSpec.from_dict(m["spec"]).arch_id
        for m in table.models
        if ArchSpec.from_dict(m["spec"]).streaming is not None
    }
    assert streaming  # the sample holds streaming models
    assert {ArchSpec.from_dict(c["spec"]).arch_id for c in table.chunks} == streaming
    # A table written without chunk records gets them, and nothing else is measured again.
    raw = json.loads(lut.read_text())
    raw["chunks"] = []
    lut.write_text(json.dumps(raw))
    assert main([*base, "--specs", "6"]) == 0
    again = LatencyTable.load(lut)
    assert len(again.models) == len(table.models)
    assert {ArchSpec.from_dict(c["spec"]).arch_id for c in again.chunks} == streaming


def test_profile_export_covers_every_head_kind(tmp_path: Path) -> None:
    lut = tmp_path / "lut.json"
    argv = ["profile", "--export", str(lut), "--table-seconds", "1", "--repeats", "2"]
    assert main([*argv, "--specs", "4", "--decoders", "rnnt", "aed_transformer"]) == 0
    table = LatencyTable.load(lut)
    kinds = {ArchSpec.from_dict(m["spec"]).decoder.kind for m in table.models}
    assert kinds == {"rnnt", "aed_transformer"} and len(table.models) == 4
    heads = {e.kind for e in table.entries.values() if e.kind.startswith("head:")}
    assert heads == {"head:rnnt", "head:aed_transformer"}


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_profile_export_on_an_onnx_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from speechnas.arch import ArchSpec, DecoderSpec
    from speechnas.hardware import tables

    # Small models (the default sample exports for minutes), one of them a transducer.
    small = [
        ArchSpec.uniform(encoder="cnn", num_layers=2, width=16, kernel=3, n_mels=40),
        ArchSpec.uniform(num_layers=1, width=16, heads=2, ffn_expansion=2.0, kernel=3),
        ArchSpec.uniform(
            encoder="cnn", num_layers=1, width=16, n_mels=40, decoder=DecoderSpec("rnnt")
        ),
    ]
    monkeypatch.setattr(tables, "sample_specs", lambda space, count, seed, **_: small[:count])
    lut = tmp_path / "lut.json"
    base = ["profile", "--export", str(lut), "--table-seconds", "1", "--repeats", "2"]
    assert main([*base, "--target", "cpu-onnx-int8", "--specs", "3"]) == 0
    assert "cannot run" not in capsys.readouterr().out
    table = LatencyTable.load(lut)
    assert len(table.models) == 3
    assert {e.kind for e in table.entries.values() if e.kind.startswith("head:")} == {
        "head:ctc",
        "head:rnnt",
    }
    assert table.target["target"] == "cpu-onnx-int8" and table.target["precision"] == "int8"
    assert main([*base, "--target", "cpu-torch", "--specs", "2"]) == 2  # another target's file
    assert "cpu-onnx-int8" in capsys.readouterr().err


def test_export_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_manifest(make_corpus(tmp_path / "train", n=8, seed=0), tmp_path / "t.jsonl")
    dev = write_manifest(make_corpus(tmp_path / "dev", n=3, seed=1), tmp_path / "d.jsonl")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"train_manifest: {train}\ndev_manifest: {dev}\nout_dir: {tmp_path / 'run'}\n"
        f"arch: {json.dumps(SPEC)}\nmax_epochs: 1\nbatch_seconds: 6.0\nthreads: 1\n"
    )
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    out = tmp_path / "export"
    checkpoint = str(tmp_path / "run" / "last.pt")
    code = main(
        ["export", "--checkpoint", checkpoint, "--out", str(out), "--test", f"dev={dev}"]
        + ["--precision", "fp32", "int8"]
    )
    assert code == 0
    report = json.loads((out / "export.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert names == ["pytorch", "onnx-fp32", "onnx-int8"]
    scores = {v["name"]: v["scores"]["dev"] for v in report["variants"]}
    assert scores["onnx-fp32"] == scores["pytorch"]  # the same model, the same transcripts
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file()
    deploy = json.loads((out / "deploy.json").read_text())
    assert deploy["arch_id"] == report["arch_id"] and deploy["tokenizer"]
    assert "onnx-int8" in capsys.readouterr().out
