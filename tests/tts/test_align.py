"""Durations for TTS from CTC forced alignment: the known path is found, durations sum to
the mel length, impossible alignments are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechnas.models.align import ctc_forced_align, resample_durations, token_durations


def _peaky(path: list[int], vocab: int = 6) -> torch.Tensor:
    """Log-probabilities that favour ``path`` (one id per frame) strongly."""
    lp = torch.full((len(path), vocab), -8.0)
    for t, token in enumerate(path):
        lp[t, token] = -0.01
    return lp


def test_the_best_path_is_found_with_repeats_and_blanks() -> None:
    # frames: blank, a, a, blank, a, b, b, blank  -> tokens a, a, b first at 1, 4, 5
    path = [0, 2, 2, 0, 2, 3, 3, 0]
    assert ctc_forced_align(_peaky(path), [2, 2, 3]) == [1, 4, 5]
    # Even against the frames' wishes the transcript is followed: c is forced in.
    assert len(ctc_forced_align(_peaky(path), [2, 4, 3])) == 3
    with pytest.raises(ValueError, match="cannot hold 3 tokens"):
        ctc_forced_align(_peaky([2, 2, 3]), [2, 2, 3])  # a repeat needs a blank between
    with pytest.raises(ValueError, match="is the blank"):
        ctc_forced_align(_peaky(path), [2, 0])
    assert ctc_forced_align(_peaky(path), []) == []


def test_durations_sum_to_the_mel_length() -> None:
    starts = [1, 4, 5]
    asr = token_durations(starts, 8)
    assert asr == [4, 1, 3] and sum(asr) == 8
    rng = np.random.default_rng(0)
    for _ in range(200):
        durations = rng.integers(0, 9, size=int(rng.integers(1, 30))).tolist()
        if sum(durations) == 0:
            continue
        mel_frames = int(rng.integers(1, 900))
        out = resample_durations(durations, mel_frames)
        assert sum(out) == mel_frames and min(out) >= 0 and len(out) == len(durations)
    # 40 ms recogniser frames to 11.6 ms mel frames: about 3.45 mel frames each.
    assert resample_durations(asr, 28) == [14, 4, 10]  # boundaries 14, 17.5 -> 18, 28


def _collapse(path: tuple[int, ...]) -> list[int]:
    out, last = [], 0
    for p in path:
        if p != 0 and p != last:
            out.append(p)
        last = p
    return out


def test_the_alignment_is_the_best_of_every_path() -> None:
    import itertools

    rng = np.random.default_rng(1)
    for targets in ([1, 2], [2, 2], [1, 3, 1]):
        lp = torch.log_softmax(torch.tensor(rng.normal(size=(7, 4))), dim=1)
        best, starts = -np.inf, None
        for path in itertools.product(range(4), repeat=7):
            if _collapse(path) != targets:
                continue
            score = float(sum(lp[t, p] for t, p in enumerate(path)))
            if score > best:
                emitted, last = [], 0
                for t, p in enumerate(path):
                    if p != 0 and p != last:
                        emitted.append(t)
                    last = p
                best, starts = score, emitted
        assert ctc_forced_align(lp, targets) == starts, targets
