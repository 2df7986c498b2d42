"""Transducer (RNN-T) output head: prediction network, joiner, loss and decoding.

Legend: B batch, T encoder frames, D encoder width, U target tokens, V vocabulary (id 0 is
the blank), H hypotheses in a beam, C candidate sequences, N lattice anti-diagonals.

The loss is the forward algorithm over the T x (U + 1) transducer lattice in plain PyTorch,
because no maintained pip package offers an RNN-T loss for torch 2.13 on CPU without
torchaudio (warp-rnnt is CUDA only; fast_rnnt, optimized_transducer and k2 are C++ builds
tied to older torch releases, and warprnnt-numba is an unmaintained experiment).

Two decoding topologies are used:

* ``greedy_decode`` follows the training lattice: a frame emits tokens until the joiner
  picks the blank (at most ``max_symbols_per_frame`` of them), and the blank moves on.
* ``beam_decode`` is the "modified beam search" of k2/icefall: every frame emits exactly one
  symbol, the blank or one token, so a hypothesis gains at most one token per frame.
  :meth:`RNNTHead.score` gives the log-probability of a token sequence under that topology
  (summed over its alignments), and greedy decoding with ``max_symbols_per_frame=1`` walks
  the same topology, so the two searches are compared on that score.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from speechnas.models._blocks import Dropout
from speechnas.models._head import Head
from speechnas.models._masks import lengths_to_mask

__all__ = ["RNNTHead", "transducer_loss"]

# A finite stand-in for log(0). Finite so that logaddexp never meets (-inf) - (-inf), whose
# gradient is NaN; added to any real log-probability it stays far below every real path.
_NEG = -1.0e30

_PREDICTORS = ("lstm", "stateless")


def _check_lengths(name: str, lens: Tensor, batch: int, max_len: int) -> None:
    if lens.shape != (batch,):
        raise ValueError(f"{name} has shape {tuple(lens.shape)}; expected ({batch},)")
    if batch and (int(lens.min()) < 0 or int(lens.max()) > max_len):
        raise ValueError(f"{name}={lens.tolist()} must lie in [0, {max_len}]")


def transducer_loss(
    log_probs: Tensor,
    targets: Tensor,
    logit_lens: Tensor,
    target_lens: Tensor,
    blank: int = 0,
) -> Tensor:
    """Per-utterance transducer negative log-likelihood, summed over all alignments.

    The forward variable ``alpha[t, u]`` is the log-probability of having read frames
    ``0 .. t - 1`` completely and emitted ``targets[:u]``, standing at frame ``t``:
    ``alpha[t, u] = logaddexp(alpha[t-1, u] + blank(t-1, u), alpha[t, u-1] + y_u(t, u-1))``
    with ``alpha[0, 0] = 0``; the likelihood is ``alpha[T_b-1, U_b] + blank(T_b-1, U_b)``.
    Cells on one anti-diagonal ``t + u = n`` only depend on the previous one, so the loop
    runs over the ``T + U`` anti-diagonals and every step is vectorised over the batch and
    the diagonal. Autograd provides the gradient.

    Lattice cells outside an utterance's own ``T_b x (U_b + 1)`` region are masked before the
    recursion, so the loss and its gradient ignore padding values (even NaN) and the other
    items of the batch.

    Args:
        log_probs: (B, T, U + 1, V) joiner log-probabilities (log-softmax over V). Half
            precision is promoted to float32.
        targets: (B, U) int64 token ids; values past ``target_lens`` are ignored.
        logit_lens: (B,) valid frames per utterance, ``0 <= T_b <= T``.
        target_lens: (B,) valid tokens per utterance, ``0 <= U_b <= U`` (0 is allowed: the
            only alignment is ``T_b`` blanks).
        blank: id of the blank symbol. Default 0.

    Returns:
        (B,) negative log-likelihoods; ``inf`` for an utterance with ``T_b = 0``, which no
        alignment can explain.

    Raises:
        ValueError: on inconsistent shapes, lengths out of range, a ``blank`` outside
            ``0 .. V - 1`` or a valid target outside ``0 .. V - 1``.
    """
    if log_probs.dim() != 4:
        raise ValueError(f"log_probs has shape {tuple(log_probs.shape)}; expected (B, T, U+1, V)")
    B, T, U1, V = log_probs.shape
    U = U1 - 1
    if targets.shape != (B, U):
        raise ValueError(f"targets has shape {tuple(targets.shape)}; expected ({B}, {U})")
    if not 0 <= blank < V:
        raise ValueError(f"blank={blank!r} must lie in [0, {V - 1}]")
    _check_lengths("logit_lens", logit_lens, B, T)
    _check_lengths("target_lens", target_lens, B, U)
    tok_valid = lengths_to_mask(target_lens, U)  # (B, U)
    targets = targets.masked_fill(~tok_valid, blank)
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= V):
        raise ValueError(f"targets hold ids outside [0, {V - 1}]")

    lp = log_probs.float() if log_probs.dtype in (torch.float16, torch.bfloat16) else log_probs
    device = lp.device
    neg = torch.tensor(_NEG, dtype=lp.dtype, device=device)

    # Blank and target-token log-probabilities of every lattice cell, masked to _NEG where
    # the cell lies outside the utterance.
    cell_valid = (
        lengths_to_mask(logit_lens, T)[:, :, None]
        & lengths_to_mask(target_lens + 1, U1)[:, None, :]
    )  # (B, T, U + 1)
    blank_lp = torch.where(cell_valid, lp[..., blank], neg)  # (B, T, U + 1)
    index = targets[:, None, :, None].expand(B, T, U, 1)
    emit_lp = lp[:, :, :U, :].gather(3, index).squeeze(3)  # (B, T, U)
    emit_lp = torch.where(cell_valid[:, :, :U] & tok_valid[:, None, :], emit_lp, neg)
    emit_lp = nn.functional.pad(emit_lp, (0, 1), value=_NEG)  # (B, T, U + 1): no y_{U+1}

    # Skew both to anti-diagonal coordinates: skew[b, n, u] = cell (t = n - u, u).
    N = T + U
    u_idx = torch.arange(U1, device=device)
    t_idx = torch.arange(N, device=device)[:, None] - u_idx[None, :]  # (N, U + 1)
    in_lattice = (t_idx >= 0) & (t_idx < T)
    t_safe = t_idx.clamp(0, max(T - 1, 0))
    blank_skew = torch.where(in_lattice, blank_lp[:, t_safe, u_idx], neg)  # (B, N, U + 1)
    emit_skew = torch.where(in_lattice, emit_lp[:, t_safe, u_idx], neg)  # (B, N, U + 1)

    alpha = torch.full((B, U1), _NEG, dtype=lp.dtype, device=device)
    alpha[:, 0] = 0.0  # diagonal 0 holds only the start cell (0, 0)
    alphas = [alpha]
    for n in range(1, N):
        stay = alpha + blank_skew[:, n - 1]  # (t - 1, u) --blank--> (t, u)
        move = alpha[:, :-1] + emit_skew[:, n - 1, :-1]  # (t, u - 1) --y_u--> (t, u)
        move = nn.functional.pad(move, (1, 0), value=_NEG)  # (B, U) -> (B, U + 1)
        # The clamp keeps unreachable cells at _NEG instead of drifting towards -inf.
        alpha = torch.logaddexp(stay, move).clamp(min=_NEG)
        alphas.append(alpha)
    all_alpha = torch.stack(alphas, dim=1)  # (B, N, U + 1)

    batch = torch.arange(B, device=device)
    last_t = (logit_lens - 1).clamp(min=0)
    final = all_alpha[batch, last_t + target_lens, target_lens]
    final = final + blank_lp[batch, last_t, target_lens]
    nll = -final
    return torch.where(logit_lens > 0, nll, torch.full_like(nll, float("inf")))


class _Predictor(nn.Module, abc.ABC):
    """Prediction network: the token history -> a (dim,) vector per position.

    ``forward`` runs over whole target sequences for training; ``initial_state`` and
    ``step`` run one token at a time for decoding. States are batch-first tensors, so a
    beam selects hypotheses with ``state[index]``.
    """

    def __init__(self, vocab_size: int, dim: int, dropout: float, blank: int) -> None:
        super().__init__()
        self.blank = blank
        self.dim = dim
        self.embed = nn.Embedding(vocab_size, dim)
        self.dropout = Dropout(dropout)

    @abc.abstractmethod
    def forward(self, tokens: Tensor) -> Tensor:
        """(B, U) tokens -> (B, U + 1, dim); position u has seen the start symbol and
        ``tokens[:, :u]`` only (causal), so padded tokens never reach valid positions."""

    @abc.abstractmethod
    def initial_state(self, batch_size: int) -> Tensor:
        """State before the start symbol, batch-first."""

    @abc.abstractmethod
    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Feed one token per item: (B,) tokens and a state -> (B, dim) output, new state."""

    @abc.abstractmethod
    def step_macs(self) -> int:
        """Multiply-accumulates of one :meth:`step` for one item."""


class _LSTMPredictor(_Predictor):
    """Embedding + one-layer LSTM; the state stacks ``(h, c)`` as (B, 2, dim)."""

    def __init__(self, vocab_size: int, dim: int, dropout: float, blank: int) -> None:
        super().__init__(vocab_size, dim, dropout, blank)
        self.lstm = nn.LSTM(dim, dim, batch_first=True)

    def forward(self, tokens: Tensor) -> Tensor:
        start = tokens.new_full((tokens.shape[0], 1), self.blank)
        x = self.embed(torch.cat([start, tokens], dim=1))  # (B, U + 1, dim)
        out: Tensor = self.lstm(x)[0]
        return self.dropout(out)  # type: ignore[no-any-return]

    def initial_state(self, batch_size: int) -> Tensor:
        return self.embed.weight.new_zeros(batch_size, 2, self.dim)

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        x = self.embed(tokens)[:, None, :]  # (B, dim) -> (B, 1, dim)
        h0 = state[:, 0][None].contiguous()  # (B, dim) -> (1, B, dim)
        c0 = state[:, 1][None].contiguous()
        out, (h, c) = self.lstm(x, (h0, c0))
        return self.dropout(out[:, 0]), torch.stack([h[0], c[0]], dim=1)

    def step_macs(self) -> int:
        return 8 * self.dim * self.dim  # 4 gates x (input + recurrent) matmuls


class _StatelessPredictor(_Predictor):
    """Embedding of the last two tokens (Ghodsi et al. 2020; k2's "stateless" decoder).

    A depthwise Conv1d with a context of 2 mixes the embeddings of the previous and the
    current token, then a ReLU. Missing history is filled with the start symbol (the blank).
    The state is the previous token, (B, 1) int64.
    """

    context = 2

    def __init__(self, vocab_size: int, dim: int, dropout: float, blank: int) -> None:
        super().__init__(vocab_size, dim, dropout, blank)
        self.conv = nn.Conv1d(dim, dim, self.context, groups=dim, bias=False)

    def forward(self, tokens: Tensor) -> Tensor:
        start = tokens.new_full((tokens.shape[0], self.context), self.blank)
        x = self.embed(torch.cat([start, tokens], dim=1))  # (B, U + 2, dim)
        y = self.conv(x.transpose(1, 2))  # (B, U + 2, dim) -> (B, dim, U + 1)
        out = torch.relu(y).transpose(1, 2)  # (B, dim, U + 1) -> (B, U + 1, dim)
        return self.dropout(out)  # type: ignore[no-any-return]

    def initial_state(self, batch_size: int) -> Tensor:
        weight = self.embed.weight
        return torch.full((batch_size, 1), self.blank, dtype=torch.long, device=weight.device)

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        history = torch.cat([state, tokens[:, None]], dim=1)  # (B, 2)
        y = self.conv(self.embed(history).transpose(1, 2))  # (B, 2, dim) -> (B, dim, 1)
        return self.dropout(torch.relu(y[:, :, 0])), history[:, 1:]

    def step_macs(self) -> int:
        return self.context * self.dim  # depthwise: one weight per channel and tap


class RNNTHead(Head):
    """Transducer head: a prediction network over the emitted tokens and a joiner.

    The joiner adds ``Linear(D -> dim)`` of an encoder frame and ``Linear(dim -> dim)`` of
    the predictor output, applies tanh and ``Linear(dim -> V)``; a log-softmax over V gives
    the distribution over the blank (id 0) and the tokens at every lattice cell.

    Args:
        d_model: D, encoder width.
        vocab_size: V, including the blank.
        predictor: ``"lstm"`` (Embedding + one-layer LSTM) or ``"stateless"`` (embedding of
            the last two tokens through a depthwise conv and ReLU). Default ``"lstm"``.
        dim: width of the predictor and the joiner. Default 256.
        dropout: dropout on the predictor output during training. Default 0.1.
        max_symbols_per_frame: cap on tokens emitted per frame by greedy decoding. Default 3.

    Raises:
        ValueError: naming the first invalid argument.

    Example:
        >>> import torch
        >>> head = RNNTHead(d_model=16, vocab_size=5, dim=8).eval()
        >>> enc, enc_lens = torch.randn(2, 7, 16), torch.tensor([7, 4])
        >>> loss = head.loss(enc, enc_lens, torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]))
        >>> with torch.no_grad():
        ...     hyps = head.beam_decode(enc, enc_lens, beam_size=3)
        >>> len(hyps)
        2
    """

    blank = 0

    def __init__(
        self,
        *,
        d_model: int,
        vocab_size: int,
        predictor: str = "lstm",
        dim: int = 256,
        dropout: float = 0.1,
        max_symbols_per_frame: int = 3,
    ) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model={d_model!r} must be >= 1")
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size!r} must be >= 2 (blank + one token)")
        if predictor not in _PREDICTORS:
            raise ValueError(f"predictor={predictor!r} is invalid; expected one of {_PREDICTORS}")
        if dim < 1:
            raise ValueError(f"dim={dim!r} must be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must lie in [0, 1)")
        if max_symbols_per_frame < 1:
            raise ValueError(f"max_symbols_per_frame={max_symbols_per_frame!r} must be >= 1")
        self.d_model = d_model
        self.vocab_size = vocab_size
        self.dim = dim
        self.max_symbols_per_frame = max_symbols_per_frame
        kind = _LSTMPredictor if predictor == "lstm" else _StatelessPredictor
        self.predictor: _Predictor = kind(vocab_size, dim, dropout, self.blank)
        self.enc_proj = nn.Linear(d_model, dim)
        self.pred_proj = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab_size)

    # -- training -------------------------------------------------------------------------

    def _joint(self, enc_p: Tensor, pred_p: Tensor) -> Tensor:
        """Projected encoder and predictor vectors (broadcastable, ``(..., dim)``) ->
        ``(..., V)`` log-probabilities."""
        return torch.log_softmax(self.out(torch.tanh(enc_p + pred_p)), dim=-1)

    def log_probs(
        self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor
    ) -> Tensor:
        """The full lattice: (B, T, D) frames and (B, U) targets -> (B, T, U + 1, V).

        Padded frames are zeroed and padded targets replaced by the blank first, so any
        padding value (NaN included) is harmless.
        """
        frame_ok = lengths_to_mask(enc_lens, enc.shape[1])[:, :, None]  # (B, T, 1)
        enc = enc.masked_fill(~frame_ok, 0.0)
        targets = targets.masked_fill(~lengths_to_mask(target_lens, targets.shape[1]), self.blank)
        enc_p = self.enc_proj(enc)[:, :, None, :]  # (B, T, dim) -> (B, T, 1, dim)
        pred_p = self.pred_proj(self.predictor(targets))[:, None]  # (B, 1, U + 1, dim)
        return self._joint(enc_p, pred_p)

    def nll(self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """(B,) transducer negative log-likelihood of each utterance (see :meth:`loss`)."""
        lp = self.log_probs(enc, enc_lens, targets, target_lens)
        return transducer_loss(lp, targets, enc_lens, target_lens, blank=self.blank)

    def loss(self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """Mean over the batch of each utterance's transducer negative log-likelihood.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames.
            targets: (B, U) int64 token ids in ``1 .. V - 1``, padded with anything.
            target_lens: (B,) valid tokens (0 allowed).

        Returns:
            Scalar loss. An utterance with no frames cannot be aligned and contributes zero
            instead of infinity (as :class:`~speechnas.models.ctc.CTCHead` does).
        """
        per_utt = self.nll(enc, enc_lens, targets, target_lens)
        per_utt = torch.where(torch.isinf(per_utt), torch.zeros_like(per_utt), per_utt)
        return per_utt.mean()

    # -- decoding -------------------------------------------------------------------------

    def _start(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """Predictor state and projected output after the start symbol: (B, ...), (B, dim)."""
        device = self.enc_proj.weight.device
        start = torch.full((batch_size,), self.blank, dtype=torch.long, device=device)
        g, state = self.predictor.step(start, self.predictor.initial_state(batch_size))
        return state, self.pred_proj(g)

    @torch.no_grad()
    def greedy_decode(
        self, enc: Tensor, enc_lens: Tensor, *, max_symbols_per_frame: int | None = None
    ) -> list[list[int]]:
        """Greedy transducer decoding, batched.

        At each frame the joiner's argmax is emitted and the predictor advanced, until the
        argmax is the blank or ``max_symbols_per_frame`` tokens were emitted; then the next
        frame is read. With ``max_symbols_per_frame=1`` every frame emits exactly one symbol,
        the topology :meth:`beam_decode` and :meth:`score` use.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames.
            max_symbols_per_frame: overrides the constructor's cap when given.

        Returns:
            One list of token ids (no blank) per utterance.
        """
        cap = (
            self.max_symbols_per_frame if max_symbols_per_frame is None else max_symbols_per_frame
        )
        if cap < 1:
            raise ValueError(f"max_symbols_per_frame={cap!r} must be >= 1")
        B = enc.shape[0]
        enc_p = self.enc_proj(enc)  # (B, T, dim)
        state, pred_p = self._start(B)
        hyps: list[list[int]] = [[] for _ in range(B)]
        for t in range(enc.shape[1]):
            active = t < enc_lens  # (B,)
            for _ in range(cap):
                best = self.out(torch.tanh(enc_p[:, t] + pred_p)).argmax(dim=-1)  # (B,)
                emit = active & (best != self.blank)
                if not bool(emit.any()):
                    break
                g, new_state = self.predictor.step(best, state)
                state = torch.where(emit.view(B, *[1] * (state.dim() - 1)), new_state, state)
                pred_p = torch.where(emit[:, None], self.pred_proj(g), pred_p)
                for b in emit.nonzero().flatten().tolist():
                    hyps[b].append(int(best[b]))
                active = emit
        return hyps

    @torch.no_grad()
    def beam_decode(self, enc: Tensor, enc_lens: Tensor, beam_size: int = 4) -> list[list[int]]:
        """Modified beam search (one symbol per frame), then exact rescoring of the n-best.

        Frame by frame, each of at most ``beam_size`` hypotheses is extended by the blank
        (same tokens) or by one token; extensions that produce the same token sequence are
        merged by adding their probabilities (log-add) before the ``beam_size`` best are
        kept. A hypothesis' running score is therefore the summed probability of its
        alignments that survived pruning.

        Pruning can drop a prefix that would have won later, so plain beam search does not
        always beat greedy search. To keep the :class:`Head` contract exactly, the final beam
        and the greedy hypothesis (``max_symbols_per_frame=1``, the same topology) are
        rescored with :meth:`score` and the best is returned. The rescoring evaluates the
        joiner on ``(beam_size + 1) x T x (U + 1)`` cells per utterance.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames.
            beam_size: hypotheses kept per frame. Default 4.

        Returns:
            One list of token ids (no blank) per utterance.

        Raises:
            ValueError: if ``beam_size < 1``.
        """
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size!r} must be >= 1")
        greedy = self.greedy_decode(enc, enc_lens, max_symbols_per_frame=1)
        enc_p = self.enc_proj(enc)  # (B, T, dim)
        results: list[list[int]] = []
        for b in range(enc.shape[0]):
            frames = enc_p[b, : int(enc_lens[b])]  # (T_b, dim)
            beam = [seq for seq, _ in self._beam_search(frames, beam_size)]
            candidates = list(dict.fromkeys([*beam, tuple(greedy[b])]))  # unique, in order
            scores = self._sequence_log_probs(frames, candidates).tolist()
            best = max(range(len(candidates)), key=scores.__getitem__)
            results.append(list(candidates[best]))
        return results

    def _beam_search(self, enc_p: Tensor, beam_size: int) -> list[tuple[tuple[int, ...], float]]:
        """Modified beam search over (T, dim) projected frames -> final beam, best first."""
        V = self.vocab_size
        state, pred_p = self._start(1)  # (H, ...), (H, dim) with H = 1
        seqs: list[tuple[int, ...]] = [()]
        scores = enc_p.new_zeros(1)  # (H,)
        for t in range(enc_p.shape[0]):
            cand = scores[:, None] + self._joint(enc_p[t], pred_p)  # (H, V)
            self._merge_duplicates(cand, seqs)
            top, flat = cand.flatten().topk(min(beam_size, cand.numel()))
            keep = torch.isfinite(top)  # merged-away extensions are -inf
            top, flat = top[keep], flat[keep]
            parent, token = flat // V, flat % V  # (H',), (H',)
            seqs = [
                seqs[p] if v == self.blank else (*seqs[p], v)
                for p, v in zip(parent.tolist(), token.tolist(), strict=True)
            ]
            state, pred_p = state[parent], pred_p[parent]  # indexing copies
            emit = (token != self.blank).nonzero().flatten()
            if emit.numel():
                g, new_state = self.predictor.step(token[emit], state[emit])
                state[emit] = new_state
                pred_p[emit] = self.pred_proj(g)
            scores = top
        return list(zip(seqs, scores.tolist(), strict=True))

    def _merge_duplicates(self, cand: Tensor, seqs: list[tuple[int, ...]]) -> None:
        """Fold "prefix + its last token" into "sequence + blank" in place, (H, V).

        Within a beam of distinct sequences, the only two extensions that can coincide are
        hypothesis ``s`` + blank and hypothesis ``s[:-1]`` + ``s[-1]``.
        """
        index = {seq: i for i, seq in enumerate(seqs)}
        for i, seq in enumerate(seqs):
            j = index.get(seq[:-1]) if seq else None
            if j is not None:
                cand[i, self.blank] = torch.logaddexp(cand[i, self.blank], cand[j, seq[-1]])
                cand[j, seq[-1]] = float("-inf")

    def _sequence_log_probs(self, enc_p: Tensor, seqs: Sequence[Sequence[int]]) -> Tensor:
        """(T, dim) projected frames and C token sequences -> (C,) one-symbol-per-frame
        log-probabilities (see :meth:`score`); ``-inf`` for a sequence longer than T.

        ``alpha[t + 1, u] = logaddexp(alpha[t, u] + blank(t, u), alpha[t, u-1] + y_u(t, u-1))``:
        a token consumes its frame, so each frame's row only depends on the previous one and
        the joiner runs one frame at a time, holding (C, U + 1, V) log-probabilities.
        """
        C = len(seqs)
        U = max((len(s) for s in seqs), default=0)
        targets = torch.full((C, U), self.blank, dtype=torch.long, device=enc_p.device)
        for c, seq in enumerate(seqs):
            targets[c, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        target_lens = torch.tensor([len(s) for s in seqs], device=enc_p.device)
        pred_p = self.pred_proj(self.predictor(targets))  # (C, U + 1, dim)
        alpha = torch.full((C, U + 1), _NEG, dtype=pred_p.dtype, device=enc_p.device)
        alpha[:, 0] = 0.0
        for t in range(enc_p.shape[0]):
            lp = self._joint(enc_p[t], pred_p)  # (C, U + 1, V)
            stay = alpha + lp[:, :, self.blank]
            emit = lp[:, :U].gather(2, targets[:, :, None]).squeeze(2)  # (C, U)
            move = nn.functional.pad(alpha[:, :-1] + emit, (1, 0), value=_NEG)
            alpha = torch.logaddexp(stay, move).clamp(min=_NEG)
        out = alpha.gather(1, target_lens[:, None]).squeeze(1)  # (C,)
        return torch.where(out > _NEG / 2, out, torch.full_like(out, float("-inf")))

    @torch.no_grad()
    def score(self, enc: Tensor, tokens: Sequence[int]) -> float:
        """Log-probability of ``tokens`` for one utterance under the one-symbol-per-frame
        topology that :meth:`beam_decode` searches.

        Every frame emits exactly one symbol (the blank or the next token), so a sequence of
        U tokens over T frames has ``binom(T, U)`` alignments; this sums their probabilities
        (call in eval mode). It is ``-inf`` when ``U > T``.

        Args:
            enc: (T, D) encoder output of one utterance, without padding.
            tokens: token ids (no blank).
        """
        return float(self._sequence_log_probs(self.enc_proj(enc), [tokens])[0])

    # -- cost -----------------------------------------------------------------------------

    def macs(self, num_frames: int, num_tokens: int) -> int:
        """Multiply-accumulates of greedy decoding ``num_tokens`` tokens over ``num_frames``.

        Counted: the encoder projection once per frame (``D * dim``); the predictor step and
        its projection (``dim * dim``) once for the start symbol and once per emitted token;
        the joiner's output layer (``dim * V``) once per evaluation, i.e. once per token and
        once per frame-ending blank. LSTM steps count ``8 * dim**2`` (four gates, input and
        recurrent matmuls), the stateless conv ``2 * dim``. Additions, activations, softmax
        and argmax are not counted.
        """
        if num_frames < 0:
            raise ValueError(f"num_frames={num_frames!r} must be >= 0")
        if num_tokens < 0:
            raise ValueError(f"num_tokens={num_tokens!r} must be >= 0")
        encoder = num_frames * self.d_model * self.dim
        predictor = (num_tokens + 1) * (self.predictor.step_macs() + self.dim * self.dim)
        joiner = (num_frames + num_tokens) * self.dim * self.vocab_size
        return encoder + predictor + joiner
