"""CTC output head: a linear projection to the vocabulary, the CTC loss, greedy and beam decoding.

Legend: B batch, T encoder frames, D encoder width, U target tokens, V vocabulary (blank
included).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from speechnas.models._head import Head

__all__ = [
    "CTCHead",
    "ctc_log_likelihoods",
    "ctc_prefix_beam_search",
    "greedy_ctc_collapse",
]

_NEG_INF = -math.inf


def greedy_ctc_collapse(best: list[int], blank: int = 0) -> list[int]:
    """Collapse a best path: merge repeats, then drop blanks (``a a - a b`` -> ``a a b``)."""
    out: list[int] = []
    prev = None
    for tok in best:
        if tok != prev and tok != blank:
            out.append(tok)
        prev = tok
    return out


def _log_add(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` without overflow; ``-inf`` is the log of zero."""
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    hi, lo = (a, b) if a >= b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def _accumulate(
    table: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], slot: int, logp: float
) -> None:
    """Add probability ``exp(logp)`` to ``table[prefix][slot]`` (0: ends in blank, 1: label).

    Zero probabilities add nothing, so prefixes no path reaches never enter the beam.
    """
    if logp == _NEG_INF:
        return
    entry = table.setdefault(prefix, [_NEG_INF, _NEG_INF])
    entry[slot] = _log_add(entry[slot], logp)


def ctc_prefix_beam_search(
    log_probs: Tensor, beam_size: int, blank: int = 0
) -> list[tuple[list[int], float]]:
    """CTC prefix beam search without a language model.

    Every prefix (a collapsed label sequence) carries two log-probabilities: of the paths
    over the frames so far that collapse to it and end in a blank, and of those that end in
    its last label. Keeping the two apart is what lets a repeated label be told apart from a
    new one (``a a`` needs a blank in between). Paths that reach the same prefix are summed,
    so a prefix's score is the total probability of its paths, not of its best path.

    Per frame, only the ``beam_size`` most probable tokens of that frame are tried, and only
    the ``beam_size`` best prefixes are kept. The scores are therefore lower bounds of the
    prefixes' CTC probabilities, and exact when nothing is pruned (``beam_size >= V ** T``
    is always enough).

    Args:
        log_probs: (T, V) per-frame log-probabilities of one utterance (valid frames only).
        beam_size: Prefixes kept per frame, and tokens tried per frame; at least 1.
        blank: The blank id.

    Returns:
        Up to ``beam_size`` ``(label ids, log-probability)`` pairs, best first. With ``T = 0``
        the only hypothesis is the empty one, with log-probability 0.

    Raises:
        ValueError: If ``log_probs`` is not 2-D, or ``beam_size`` or ``blank`` is invalid.
    """
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs.shape={tuple(log_probs.shape)} is invalid; expected (T, V)")
    num_frames, vocab_size = log_probs.shape
    if beam_size < 1:
        raise ValueError(f"beam_size={beam_size!r} must be >= 1")
    if not 0 <= blank < vocab_size:
        raise ValueError(f"blank={blank!r} is outside the vocabulary of size {vocab_size}")
    frames = log_probs.detach().to("cpu", torch.float64)
    num_tried = min(beam_size, vocab_size)
    # prefix -> (log P(paths ending in blank), log P(paths ending in the prefix's last label))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}
    for t in range(num_frames):
        top = frames[t].topk(num_tried)
        tried = list(zip(top.indices.tolist(), top.values.tolist(), strict=True))
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_blank, p_label) in beams.items():
            p_total = _log_add(p_blank, p_label)
            last = prefix[-1] if prefix else None
            for tok, lp in tried:
                if tok == blank:
                    _accumulate(nxt, prefix, 0, p_total + lp)
                elif tok == last:
                    # Repeating the last label without a blank stays on the same prefix; a
                    # new copy of it must come after a blank.
                    _accumulate(nxt, prefix, 1, p_label + lp)
                    _accumulate(nxt, (*prefix, tok), 1, p_blank + lp)
                else:
                    _accumulate(nxt, (*prefix, tok), 1, p_total + lp)
        ranked = sorted(nxt.items(), key=lambda kv: _log_add(kv[1][0], kv[1][1]), reverse=True)
        beams = {prefix: (pb, pl) for prefix, (pb, pl) in ranked[:beam_size]}
    hyps = [(list(prefix), _log_add(pb, pl)) for prefix, (pb, pl) in beams.items()]
    return sorted(hyps, key=lambda h: h[1], reverse=True)


def ctc_log_likelihoods(log_probs: Tensor, hyps: list[list[int]], blank: int = 0) -> Tensor:
    """Exact CTC log-probability of each label sequence (sum over all its paths).

    Args:
        log_probs: (T, V) per-frame log-probabilities of one utterance.
        hyps: N label sequences (no blanks), possibly empty.
        blank: The blank id.

    Returns:
        (N,) float64 log-probabilities; ``-inf`` for a sequence too long to align.
    """
    num = len(hyps)
    if num == 0:
        return torch.zeros(0, dtype=torch.float64)
    frames = log_probs.detach().to("cpu", torch.float64)
    lens = [len(h) for h in hyps]
    targets = torch.zeros(num, max(max(lens), 1), dtype=torch.long)
    for n, h in enumerate(hyps):
        targets[n, : len(h)] = torch.tensor(h, dtype=torch.long)
    nll = nn.functional.ctc_loss(
        frames[:, None].expand(-1, num, -1),  # (T, V) -> (T, N, V), one copy per hypothesis
        targets,
        torch.full((num,), frames.shape[0], dtype=torch.long),
        torch.tensor(lens, dtype=torch.long),
        blank=blank,
        reduction="none",
        zero_infinity=False,
    )
    return -nll


class CTCHead(Head):
    """Projects encoder output to token log-probabilities; token 0 is the blank.

    Args:
        d_model: D, encoder width.
        vocab_size: V, including the blank.

    Example:
        >>> head = CTCHead(d_model=8, vocab_size=5).eval()
        >>> enc, enc_lens = torch.randn(2, 6, 8), torch.tensor([6, 4])
        >>> len(head.beam_decode(enc, enc_lens, beam_size=3))
        2
    """

    blank = 0

    def __init__(self, *, d_model: int, vocab_size: int) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model={d_model!r} must be >= 1")
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size!r} must be >= 2 (blank + one token)")
        self.d_model = d_model
        self.vocab_size = vocab_size
        self.proj = nn.Linear(d_model, vocab_size)

    def log_probs(self, enc: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, V) log-probabilities."""
        return torch.log_softmax(self.proj(enc), dim=-1)

    def loss(self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """Mean over the batch of each utterance's CTC negative log-likelihood.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames.
            targets: (B, U) token ids, padded with anything.
            target_lens: (B,) valid tokens.

        Returns:
            Scalar loss. Utterances whose targets cannot be aligned (too short for their
            labels) contribute zero instead of infinity.
        """
        return self.loss_of_log_probs(self.log_probs(enc), enc_lens, targets, target_lens)

    def loss_of_log_probs(
        self, log_probs: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor
    ) -> Tensor:
        """:meth:`loss` from :meth:`log_probs`' output ``(B, T, V)`` (for a caller that needs
        the log-probabilities too)."""
        lp = log_probs.transpose(0, 1)  # (B, T, V) -> (T, B, V) as ctc_loss expects
        per_utt = nn.functional.ctc_loss(
            lp.float(),
            targets,
            enc_lens,
            target_lens,
            blank=self.blank,
            reduction="none",
            zero_infinity=True,
        )
        return per_utt.mean()

    @torch.no_grad()
    def greedy_decode(self, enc: Tensor, enc_lens: Tensor) -> list[list[int]]:
        """Best-path decoding: argmax per frame, merge repeats, drop blanks."""
        best = self.proj(enc).argmax(dim=-1)  # (B, T)
        return [
            greedy_ctc_collapse(best[i, : int(enc_lens[i])].tolist(), self.blank)
            for i in range(best.shape[0])
        ]

    @torch.no_grad()
    def beam_decode(self, enc: Tensor, enc_lens: Tensor, beam_size: int = 4) -> list[list[int]]:
        """Prefix beam search per utterance, rescored exactly.

        :func:`ctc_prefix_beam_search` scores prefixes by the paths its pruning kept, which
        can rank a prefix below one whose full probability is lower, so it can even lose to
        best-path decoding. The beam's hypotheses and the greedy one are therefore rescored
        with their exact CTC probability (the forward algorithm over all paths) and the most
        probable is returned: never less probable than :meth:`greedy_decode`'s output.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames.
            beam_size: Prefixes kept (and tokens tried) per frame; at least 1.

        Returns:
            Token ids per utterance (no blanks).
        """
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size!r} must be >= 1")
        lp = self.log_probs(enc)  # (B, T, V)
        out: list[list[int]] = []
        for i in range(lp.shape[0]):
            frames = lp[i, : int(enc_lens[i])]  # (T_i, V)
            hyps = [h for h, _ in ctc_prefix_beam_search(frames, beam_size, self.blank)]
            greedy = greedy_ctc_collapse(frames.argmax(dim=-1).tolist(), self.blank)
            if greedy not in hyps:
                hyps.append(greedy)
            scores = ctc_log_likelihoods(frames, hyps, self.blank)
            out.append(hyps[int(scores.argmax())])
        return out

    def macs(self, num_frames: int, num_tokens: int) -> int:
        """The projection, ``D * V`` per frame; the search itself does no matrix products.

        ``num_tokens`` does not matter: CTC scores every frame whatever it emits.
        """
        return num_frames * self.d_model * self.vocab_size
