from __future__ import annotations

import itertools

import pytest
import torch

from speechnas.arch import ArchSpec, StreamingSpec
from speechnas.hardware import TorchCPUTarget, make_target, profile_model, time_calls
from speechnas.models import build_model
from speechnas.timing import threads

FULL = ArchSpec.uniform(num_layers=2, width=32, heads=2, ffn_expansion=2.0, kernel=5, n_mels=40)
STREAMING = ArchSpec.uniform(
    num_layers=2,
    width=32,
    heads=2,
    ffn_expansion=2.0,
    kernel=5,
    n_mels=40,
    attention="rel",
    streaming=StreamingSpec(chunk=4, left_context=8, lookahead=2),
)


def test_time_calls_counts_and_orders() -> None:
    calls = itertools.count()
    t = time_calls(lambda: next(calls), warmup=3, repeats=7)
    assert next(calls) == 10  # 3 warm-up + 7 timed
    assert t.repeats == 7 and 0 <= t.median_s <= t.p90_s
    with pytest.raises(ValueError, match="repeats"):
        time_calls(lambda: None, repeats=0)


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with threads(1) as used:
        assert used == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_whole_utterance_profile() -> None:
    model = build_model(FULL, vocab_size=12, specaugment=False)
    p = profile_model(model, FULL, make_target("cpu-torch", 1), lengths_s=(1.0, 2.0), repeats=3)
    assert p.arch_id == FULL.arch_id and p.params == model.num_params()
    assert p.measured_lengths == [1.0, 2.0] and p.streaming is None
    for u in p.utterances:
        assert u.median_ms > 0 and u.p90_ms >= u.median_ms
        assert u.rtf == pytest.approx(u.median_ms / 1000 / u.audio_s)
    assert p.latency_ms(2.0) == p.utterances[1].median_ms
    assert p.target["threads"] == 1 and "torch" in p.run_info["versions"]
    with pytest.raises(KeyError, match="measured"):
        p.latency_ms(5.0)


def test_streaming_profile_times_every_chunk() -> None:
    model = build_model(STREAMING, vocab_size=12, specaugment=False)
    p = profile_model(
        model, STREAMING, TorchCPUTarget(1), lengths_s=(1.0,), repeats=2, stream_s=3.0
    )
    c = p.streaming
    assert c is not None
    # 4 encoder frames of 40 ms per chunk; the model waits for its chunk and 2 frames more.
    assert c.chunk_ms == 160.0 and c.algorithmic_ms == STREAMING.algorithmic_latency_ms == 240.0
    assert c.latency_ms == pytest.approx(c.algorithmic_ms + c.compute_median_ms)
    assert c.rtf == pytest.approx(c.compute_median_ms / c.chunk_ms)
    assert c.chunks >= 3000 // 160 - 3
    assert 0 < c.compute_median_ms <= c.compute_p90_ms
