"""Every target keeps the :class:`~speechnas.hardware.Target` contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from speechnas.arch import ArchSpec, StreamingSpec
from speechnas.errors import UserError
from speechnas.hardware import TARGETS, Target, make_target
from speechnas.models import build_model

SPEC = ArchSpec.uniform(encoder="cnn", num_layers=2, width=32, kernel=5, n_mels=40)


def _target(name: str) -> Target:
    target: Target = TARGETS[name](2)
    why = target.unavailable()
    if why is not None:
        pytest.skip(f"{name}: {why}")
    return target


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(2, 16000, generator=g)
    wave[1, 11000:] = 0.0
    return wave, torch.tensor([16000, 11000])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_contract(name: str, tmp_path: Path) -> None:
    target = _target(name)
    assert target.name == name and target.threads == 2
    info = target.describe()
    assert {"target", "device", "runtime", "precision", "threads", "versions"} <= set(info)
    assert info["target"] == name and info["threads"] == 2 and info["device"]
    torch.manual_seed(0)
    model = build_model(SPEC, vocab_size=12, specaugment=False).eval()
    wave, lens = _batch()
    with torch.no_grad():
        expected = model.transcribe_ids(wave, lens)
        got = target.prepare(model, tmp_path).transcribe_ids(wave, lens)
    assert len(got) == len(expected)
    if info["precision"] != "int8":  # quantisation may change a close argmax
        assert got == expected
    # The caller's model is unchanged and still on the CPU.
    assert next(model.parameters()).device.type == "cpu"


STREAMING = ArchSpec.uniform(
    encoder="cnn",
    num_layers=2,
    width=32,
    kernel=5,
    n_mels=40,
    streaming=StreamingSpec(chunk=4, left_context=8, lookahead=6),
)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_streams_complete_whole_chunks_after_the_lookahead(name: str, tmp_path: Path) -> None:
    target = _target(name)
    if not target.supports_streaming:
        pytest.skip(f"{name} does not stream")
    torch.manual_seed(0)
    model = build_model(STREAMING, vocab_size=12, specaugment=False).eval()
    stream = target.open_stream(model, tmp_path)
    enc = model.encoder
    delay = 2  # 6 frames of look-ahead, 4-frame chunks
    feats = torch.randn(1, 5 * enc.input_chunk, 40)
    done = [
        stream.push(feats[:, k * enc.input_chunk : (k + 1) * enc.input_chunk]) for k in range(5)
    ]
    assert done == [0] * delay + [enc.chunk] * (5 - delay)


def test_cuda_says_why_without_a_gpu() -> None:
    target = TARGETS["cuda-torch"](1)
    if torch.cuda.is_available():
        assert target.unavailable() is None
    else:
        assert "CUDA" in (target.unavailable() or "")
        with pytest.raises(UserError, match="cannot run here"):
            make_target("cuda-torch")


def test_unknown_target_and_bad_threads_are_user_errors() -> None:
    with pytest.raises(UserError, match="cpu-torch"):
        make_target("tpu-v9")
    with pytest.raises(UserError, match="threads"):
        make_target("cpu-torch", threads=0)
