"""Cheap measurements: what a model waits for (analytic) and computes per chunk (measured)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from speechnas.arch import ArchSpec, StreamingSpec
from speechnas.hardware.cheap import cheap_metrics
from speechnas.hardware.memo import LatencyMemo

FULL = ArchSpec.uniform(num_layers=2, width=32, heads=2, kernel=3, n_mels=40)
STREAM = dataclasses.replace(FULL, streaming=StreamingSpec(chunk=4, left_context=8, lookahead=2))


def test_what_a_model_waits_for() -> None:
    full = cheap_metrics(FULL, vocab_size=20, audio_seconds=2.0, repeats=2, threads=1)
    # A full-context model waits for the whole utterance, and reads all of it ahead.
    assert full["algorithmic_latency_ms"] == full["lookahead_ms"] == 2000.0
    assert "chunk_latency_ms" not in full
    stream = cheap_metrics(STREAM, vocab_size=20, audio_seconds=2.0, repeats=2, threads=1)
    frame = STREAM.frame_ms  # 40 ms encoder frames
    assert stream["algorithmic_latency_ms"] == (4 + 2) * frame
    assert stream["lookahead_ms"] == 2 * frame


def _chunked(spec: ArchSpec, memo: LatencyMemo) -> dict[str, float]:
    return cheap_metrics(
        spec, vocab_size=20, audio_seconds=2.0, repeats=2, threads=1, memo=memo, chunks=True
    )


def test_compute_per_chunk_is_measured_and_memoised(tmp_path: Path) -> None:
    memo = LatencyMemo(tmp_path / "memo.sqlite")
    first = _chunked(STREAM, memo)
    assert first["chunk_latency_ms"] > 0
    # Read back from the memo: the same figure, so a repeated search proposes the same trials.
    assert _chunked(STREAM, memo)["chunk_latency_ms"] == first["chunk_latency_ms"]
    full = _chunked(FULL, memo)
    assert full["chunk_latency_ms"] == full["latency_ms"]  # its one chunk is the utterance
