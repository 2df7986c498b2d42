"""Token durations from a CTC recogniser: forced alignment, then frames of another rate.

A text-to-speech model learns from each token's duration in mel frames. Here they come from
a recogniser the project trains (no aligner is downloaded): :func:`ctc_forced_align` finds
the most likely CTC path of a known transcript through the recogniser's frame
log-probabilities (Viterbi over the blank-interleaved token sequence, repeats of one token
separated by a blank); :func:`token_durations` gives each token the frames from its first
emission to the next token's (leading blanks to the first token), and
:func:`resample_durations` converts them to another frame rate with cumulative rounding, so
that they sum to the target length exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

__all__ = ["ctc_forced_align", "resample_durations", "token_durations"]


def ctc_forced_align(log_probs: Tensor, targets: Sequence[int], blank: int = 0) -> list[int]:
    """The frame at which each target token is first emitted on the best CTC path.

    Args:
        log_probs: (T, V) frame log-probabilities of one utterance.
        targets: its token ids (no blank).
        blank: the blank id.

    Raises:
        ValueError: no CTC path fits (too few frames for the tokens and the blanks that
            must separate repeated ones), or a target is the blank.
    """
    lp = log_probs.detach().float().cpu().numpy()
    steps, length = lp.shape[0], len(targets)
    if blank in targets:
        raise ValueError("a target token is the blank")
    if length == 0:
        return []
    repeats = sum(1 for a, b in zip(targets, targets[1:], strict=False) if a == b)
    if steps < length + repeats:
        raise ValueError(
            f"{steps} frames cannot hold {length} tokens ({repeats} repeated: each repeat "
            "needs a blank between)"
        )
    ext = [blank]
    for t in targets:
        ext += [t, blank]
    states = len(ext)
    ext_ids = np.array(ext)
    # A state may be entered from itself, the one before, or two before when that skips
    # a blank between two different tokens.
    can_skip = np.zeros(states, dtype=bool)
    can_skip[2:] = (ext_ids[2:] != blank) & (ext_ids[2:] != ext_ids[:-2])
    score = np.full((steps, states), -np.inf)
    back = np.zeros((steps, states), dtype=np.int64)
    score[0, :2] = lp[0, ext_ids[:2]]
    index = np.arange(states)
    for t in range(1, steps):
        stay = score[t - 1]
        step = np.concatenate([[-np.inf], stay[:-1]])
        skip = np.where(can_skip, np.concatenate([[-np.inf, -np.inf], stay[:-2]]), -np.inf)
        options = np.stack([stay, step, skip])  # (3, S)
        choice = options.argmax(axis=0)
        score[t] = options[choice, index] + lp[t, ext_ids]
        back[t] = index - choice
    s = states - 1 if score[-1, states - 1] >= score[-1, states - 2] else states - 2
    path = [s]
    for t in range(steps - 1, 0, -1):
        s = int(back[t, s])
        path.append(s)
    path.reverse()
    first: list[int] = []
    for frame, state in enumerate(path):
        token = (state - 1) // 2
        if state % 2 == 1 and len(first) == token:
            first.append(frame)
    return first


def token_durations(starts: Sequence[int], frames: int) -> list[int]:
    """Each token's frames: from its first emission to the next token's (the first token
    also takes the frames before it, the last those after it). They sum to ``frames``."""
    if not starts:
        return []
    bounds = [0, *starts[1:], frames]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def resample_durations(durations: Sequence[int], frames: int) -> list[int]:
    """``durations`` (summing to some total) rescaled to sum to ``frames`` exactly: each
    boundary is the rounded rescaled cumulative sum."""
    total = sum(durations)
    if total <= 0:
        raise ValueError("durations sum to nothing")
    cumulative = np.cumsum(durations) * frames / total
    bounds = [0, *np.round(cumulative).astype(int).tolist()]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
