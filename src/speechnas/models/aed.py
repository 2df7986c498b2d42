"""Attention encoder-decoder (AED) head: an autoregressive decoder attending to the encoder.

Legend: B batch, T encoder frames, D encoder width (``d_model``), E decoder width (``dim``),
H attention heads, L decoder positions, U target tokens, V vocabulary, K beam hypotheses.

Token id 0 is the CTC blank for the auxiliary CTC loss and, for the attention decoder, both
the start symbol fed before the first token and the end symbol (eos) that stops decoding; it
is never a target. The decoder is either a pre-norm Transformer or an LSTM with attention
(see :class:`AEDHead`). Both run in two ways that compute the same function: over a whole
teacher-forced sequence (training, :meth:`AEDHead.score`) and one token at a time from a
state (greedy and beam decoding), the Transformer with a cache of its self-attention keys
and values.
"""

from __future__ import annotations

import abc
import math
from typing import cast

import torch
from torch import Tensor, nn

from speechnas.models._blocks import Dropout, MatMul
from speechnas.models._head import Head
from speechnas.models._masks import lengths_to_mask
from speechnas.models.ctc import CTCHead

__all__ = ["AEDHead"]

_DECODERS = ("transformer", "lstm")

# A decoding state: named tensors whose first dimension is the batch (or beam), so that
# selecting hypotheses is an ``index_select`` on each of them.
_State = dict[str, Tensor]


def _sinusoids(length: int, dim: int, device: torch.device) -> Tensor:
    """(L, E) absolute sinusoidal position table (positions 0 .. L-1)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


class _MultiHeadAttention(nn.Module):
    """Scaled dot-product attention from ``nn.Linear`` and :class:`MatMul` (hooks see MACs).

    Keys and values are projected separately (:meth:`keys_values`) so that decoding projects
    the encoder frames once per utterance, not once per step.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.scores = MatMul()
        self.mix = MatMul()
        self.dropout = Dropout(dropout)

    def _split(self, x: Tensor) -> Tensor:
        b, n, e = x.shape
        return x.view(b, n, self.num_heads, e // self.num_heads).transpose(1, 2)  # (B, H, n, E/H)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S, E) -> keys and values, each (B, H, S, E/H)."""
        return self._split(self.k_proj(x)), self._split(self.v_proj(x))

    def attend(self, x: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None) -> Tensor:
        """Queries from ``x`` (B, L, E) attend to (B, H, S, E/H) keys/values -> (B, L, E).

        ``mask`` (broadcastable to (B, H, L, S), True where attending is allowed) must leave
        every query at least one key.
        """
        b, n, e = x.shape
        q = self._split(self.q_proj(x)) * (e // self.num_heads) ** -0.5  # (B, H, L, E/H)
        w = self.scores(q, keys.transpose(-1, -2))  # (B, H, L, S)
        if mask is not None:
            w = w.masked_fill(~mask, -math.inf)
        w = self.dropout(torch.softmax(w, dim=-1))
        ctx = self.mix(w, values)  # (B, H, L, E/H)
        return self.out_proj(ctx.transpose(1, 2).reshape(b, n, e))  # type: ignore[no-any-return]


class _Decoder(nn.Module, abc.ABC):
    """An autoregressive decoder over projected encoder frames ``memory`` (B, T, E).

    ``forward`` is teacher forcing; ``init_state`` + ``step`` compute the same logits one
    position at a time.
    """

    @abc.abstractmethod
    def forward(self, tokens: Tensor, memory: Tensor, mem_mask: Tensor) -> Tensor:
        """Inputs (B, L) (start symbol first), memory (B, T, E), mask (B, T) -> (B, L, V)."""

    @abc.abstractmethod
    def init_state(self, memory: Tensor, mem_mask: Tensor) -> _State:
        """State before the first step, with the memory's keys/values projected once."""

    @abc.abstractmethod
    def step(self, tokens: Tensor, state: _State) -> tuple[Tensor, _State]:
        """Previous tokens (B,) and state -> logits (B, V) for the next token, new state."""

    @abc.abstractmethod
    def memory_macs(self, num_frames: int) -> int:
        """MACs of :meth:`init_state` for one utterance."""

    @abc.abstractmethod
    def step_macs(self, num_frames: int, position: int) -> int:
        """MACs of the ``position``-th :meth:`step` (0-based) for one utterance."""


class _TransformerDecoderLayer(nn.Module):
    """Pre-norm: causal self-attention, cross-attention to the memory, FFN (4 E wide)."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(dim)
        self.self_attn = _MultiHeadAttention(dim, num_heads, dropout)
        self.cross_norm = nn.LayerNorm(dim)
        self.cross_attn = _MultiHeadAttention(dim, num_heads, dropout)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.ReLU(), Dropout(dropout), nn.Linear(4 * dim, dim)
        )
        self.dropout = Dropout(dropout)

    def _cross_and_ffn(self, x: Tensor, mem_k: Tensor, mem_v: Tensor, mem_mask: Tensor) -> Tensor:
        cross_mask = mem_mask[:, None, None, :]  # (B, T) -> (B, 1, 1, T)
        x = x + self.dropout(self.cross_attn.attend(self.cross_norm(x), mem_k, mem_v, cross_mask))
        y: Tensor = x + self.dropout(self.ffn(self.ffn_norm(x)))
        return y

    def forward(self, x: Tensor, mem_k: Tensor, mem_v: Tensor, mem_mask: Tensor) -> Tensor:
        """(B, L, E) -> (B, L, E), position l attending to positions <= l."""
        n = x.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()  # (L, L)
        h = self.self_norm(x)
        k, v = self.self_attn.keys_values(h)
        x = x + self.dropout(self.self_attn.attend(h, k, v, causal))
        return self._cross_and_ffn(x, mem_k, mem_v, mem_mask)

    def step(
        self,
        x: Tensor,
        past_k: Tensor,
        past_v: Tensor,
        mem_k: Tensor,
        mem_v: Tensor,
        mem_mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One new position (B, 1, E) and the cached (B, H, l, E/H) keys/values of the past.

        Returns the output (B, 1, E) and the keys/values extended to l + 1 positions. Pre-norm
        makes a position's keys depend on that position's input only, so caching is exact.
        """
        h = self.self_norm(x)
        k_new, v_new = self.self_attn.keys_values(h)
        k = torch.cat([past_k, k_new], dim=2)  # (B, H, l + 1, E/H)
        v = torch.cat([past_v, v_new], dim=2)
        x = x + self.dropout(self.self_attn.attend(h, k, v, None))
        return self._cross_and_ffn(x, mem_k, mem_v, mem_mask), k, v


class _TransformerDecoder(_Decoder):
    def __init__(
        self, *, vocab_size: int, dim: int, num_layers: int, num_heads: int, dropout: float
    ) -> None:
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, dim)
        self.dropout = Dropout(dropout)
        self.layers = nn.ModuleList(
            _TransformerDecoderLayer(dim, num_heads, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab_size)

    def _embed(self, tokens: Tensor, start: int) -> Tensor:
        """(B, L) tokens at positions start .. start+L-1 -> (B, L, E)."""
        pos = _sinusoids(start + tokens.shape[1], self.dim, tokens.device)[start:]  # (L, E)
        x: Tensor = self.dropout(self.embed(tokens) * math.sqrt(self.dim) + pos)
        return x

    def _layers(self) -> list[_TransformerDecoderLayer]:
        return [cast(_TransformerDecoderLayer, layer) for layer in self.layers]

    def _memory_kv(self, memory: Tensor) -> list[tuple[Tensor, Tensor]]:
        return [layer.cross_attn.keys_values(memory) for layer in self._layers()]

    def forward(self, tokens: Tensor, memory: Tensor, mem_mask: Tensor) -> Tensor:
        x = self._embed(tokens, 0)
        for layer, (mem_k, mem_v) in zip(self._layers(), self._memory_kv(memory), strict=True):
            x = layer(x, mem_k, mem_v, mem_mask)
        return self.out(self.norm(x))  # type: ignore[no-any-return]

    def init_state(self, memory: Tensor, mem_mask: Tensor) -> _State:
        b = memory.shape[0]
        empty = memory.new_zeros(b, self.num_heads, 0, self.dim // self.num_heads)
        state: _State = {"mem_mask": mem_mask}
        for i, (mem_k, mem_v) in enumerate(self._memory_kv(memory)):
            state.update({f"mem_k{i}": mem_k, f"mem_v{i}": mem_v})
            state.update({f"self_k{i}": empty, f"self_v{i}": empty})
        return state

    def step(self, tokens: Tensor, state: _State) -> tuple[Tensor, _State]:
        position = state["self_k0"].shape[2]
        x = self._embed(tokens[:, None], position)  # (B,) -> (B, 1, E)
        new: _State = dict(state)
        for i, layer in enumerate(self._layers()):
            x, new[f"self_k{i}"], new[f"self_v{i}"] = layer.step(
                x,
                state[f"self_k{i}"],
                state[f"self_v{i}"],
                state[f"mem_k{i}"],
                state[f"mem_v{i}"],
                state["mem_mask"],
            )
        return self.out(self.norm(x))[:, 0], new  # (B, 1, V) -> (B, V)

    def memory_macs(self, num_frames: int) -> int:
        return len(self.layers) * 2 * num_frames * self.dim**2  # cross-attention k, v

    def step_macs(self, num_frames: int, position: int) -> int:
        e = self.dim
        per_layer = (
            4 * e * e  # self-attention q, k, v, out for the new position
            + 2 * (position + 1) * e  # its scores and mix over the cached prefix
            + 2 * e * e  # cross-attention q, out
            + 2 * num_frames * e  # scores and mix over the encoder frames
            + 8 * e * e  # FFN, E -> 4E -> E
        )
        return len(self.layers) * per_layer + e * self.vocab_size


class _LSTMDecoder(_Decoder):
    """LSTM with input feeding and attention (Luong et al., 2015).

    Step: ``s = LSTM([embed(y_prev); c_prev])``, ``c = attention(query=s, memory)``,
    ``logits = Linear([s; c])``; the context ``c`` is fed to the next step's input. The
    attention is single-head scaled dot-product over projected keys and values: a spec's
    ``heads`` is a Transformer-decoder parameter only (``DecoderSpec.active`` leaves it out
    for ``aed_lstm``), so it must not change this model.
    """

    def __init__(self, *, vocab_size: int, dim: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.dim = dim
        self.num_layers = num_layers
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, dim)
        self.lstm = nn.LSTM(
            2 * dim, dim, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.attn = _MultiHeadAttention(dim, 1, dropout)
        self.dropout = Dropout(dropout)
        self.out = nn.Linear(2 * dim, vocab_size)

    def forward(self, tokens: Tensor, memory: Tensor, mem_mask: Tensor) -> Tensor:
        # Input feeding makes every step depend on the previous context: no parallel form.
        state = self.init_state(memory, mem_mask)
        logits = []
        for i in range(tokens.shape[1]):
            step_logits, state = self.step(tokens[:, i], state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # L x (B, V) -> (B, L, V)

    def init_state(self, memory: Tensor, mem_mask: Tensor) -> _State:
        b = memory.shape[0]
        mem_k, mem_v = self.attn.keys_values(memory)
        zeros = memory.new_zeros(b, self.num_layers, self.dim)
        return {
            "mem_mask": mem_mask,
            "mem_k": mem_k,
            "mem_v": mem_v,
            "h": zeros,  # (B, layers, E): batch first so that beams can be selected
            "c": zeros,
            "context": memory.new_zeros(b, self.dim),
        }

    def step(self, tokens: Tensor, state: _State) -> tuple[Tensor, _State]:
        x = torch.cat([self.dropout(self.embed(tokens)), state["context"]], dim=-1)  # (B, 2E)
        hc = (
            state["h"].transpose(0, 1).contiguous(),  # (B, layers, E) -> (layers, B, E)
            state["c"].transpose(0, 1).contiguous(),
        )
        s, (h, c) = self.lstm(x[:, None], hc)  # s: (B, 1, E)
        mask = state["mem_mask"][:, None, None, :]  # (B, T) -> (B, 1, 1, T)
        context = self.attn.attend(s, state["mem_k"], state["mem_v"], mask)  # (B, 1, E)
        logits = self.out(self.dropout(torch.cat([s, context], dim=-1)))[:, 0]  # (B, V)
        new = dict(state)
        new.update(h=h.transpose(0, 1), c=c.transpose(0, 1), context=context[:, 0])
        return logits, new

    def memory_macs(self, num_frames: int) -> int:
        return 2 * num_frames * self.dim**2  # attention k, v

    def step_macs(self, num_frames: int, position: int) -> int:
        e = self.dim
        lstm = 4 * e * (2 * e + e) + (self.num_layers - 1) * 4 * e * (e + e)
        attention = 2 * e * e + 2 * num_frames * e  # q, out; scores and mix
        return lstm + attention + 2 * e * self.vocab_size


def _select(state: _State, index: Tensor) -> _State:
    """Keep (and reorder, or repeat) the batch rows ``index`` (K,) of every state tensor."""
    return {name: t.index_select(0, index) for name, t in state.items()}


class AEDHead(Head):
    """Attention encoder-decoder head with an auxiliary CTC loss.

    The encoder output is projected to the decoder width once (``Linear(D, E)``), and the
    decoder attends to the projected frames with a key-padding mask, so an utterance's loss
    and decoding do not depend on the other items of its batch or on padding values.

    * ``decoder="transformer"``: token embedding (scaled by sqrt(E)) plus sinusoidal
      positions, ``num_layers`` pre-norm layers (causal self-attention, cross-attention,
      FFN of width 4E, each in a residual branch), a final LayerNorm and ``Linear(E, V)``.
    * ``decoder="lstm"``: token embedding, ``num_layers`` LSTM layers of width E fed with
      ``[embedding; previous context]`` (input feeding), single-head dot-product attention
      with the top LSTM output as query (``heads`` is not used), and ``Linear(2E, V)`` on
      ``[LSTM output; context]``.

    The training loss is ``(1 - ctc_weight) * attention + ctc_weight * ctc``, both averaged
    over the batch: ``attention`` is an utterance's label-smoothed cross-entropy summed over
    its ``U + 1`` teacher-forced predictions (its tokens, then eos); ``ctc`` is
    :class:`~speechnas.models.ctc.CTCHead`'s loss from an internal CTC projection of the
    encoder output (not used for decoding; with ``ctc_weight=0`` it is skipped and its
    weights get no gradient).

    Hypotheses are scored by their length-normalised log-probability: the sum of the log
    probabilities of the tokens and of the final eos, divided by the number of tokens plus
    one (:meth:`score`). Greedy and beam decoding emit at most
    ``max_len = max(1, int(max_len_ratio * T))`` tokens per utterance of T frames; a greedy
    hypothesis that reaches ``max_len`` stops there, a beam hypothesis is then closed with
    eos. Every encoder length must be at least 1 (attention needs a frame to attend to).

    Args:
        d_model: D, encoder width.
        vocab_size: V, including id 0 (start/end symbol and CTC blank); at least 2.
        decoder: ``"transformer"`` or ``"lstm"``.
        dim: E, decoder width; for the Transformer a multiple of ``heads``.
        num_layers: Decoder layers (Transformer layers or stacked LSTM layers); at least 1.
        heads: H, attention heads of the Transformer decoder (self- and cross-attention).
        ctc_weight: Weight of the CTC loss, in [0, 1).
        dropout: Dropout probability in the decoder, in [0, 1).
        label_smoothing: Label smoothing of the attention cross-entropy, in [0, 1).
        max_len_ratio: Longest hypothesis, in tokens per encoder frame; positive.

    Raises:
        ValueError: If an argument is out of range; the message names it.

    Example:
        >>> head = AEDHead(d_model=8, vocab_size=6, dim=16, heads=2).eval()
        >>> enc, enc_lens = torch.randn(2, 5, 8), torch.tensor([5, 3])
        >>> targets, target_lens = torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1])
        >>> bool(head.loss(enc, enc_lens, targets, target_lens) > 0)
        True
        >>> len(head.beam_decode(enc, enc_lens, beam_size=3))
        2
    """

    eos = 0

    def __init__(
        self,
        *,
        d_model: int,
        vocab_size: int,
        decoder: str = "transformer",
        dim: int = 256,
        num_layers: int = 1,
        heads: int = 4,
        ctc_weight: float = 0.3,
        dropout: float = 0.1,
        label_smoothing: float = 0.1,
        max_len_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model={d_model!r} must be >= 1")
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size!r} must be >= 2 (eos + one token)")
        if decoder not in _DECODERS:
            raise ValueError(f"decoder={decoder!r} is invalid; expected one of {_DECODERS}")
        if num_layers < 1:
            raise ValueError(f"num_layers={num_layers!r} must be >= 1")
        if heads < 1:
            raise ValueError(f"heads={heads!r} must be >= 1")
        if dim < 1:
            raise ValueError(f"dim={dim!r} must be >= 1")
        if decoder == "transformer" and dim % heads:
            raise ValueError(f"heads={heads!r} is invalid; it must divide dim={dim!r}")
        if not 0.0 <= ctc_weight < 1.0:
            raise ValueError(f"ctc_weight={ctc_weight!r} must be in [0, 1)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must be in [0, 1)")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={label_smoothing!r} must be in [0, 1)")
        if not max_len_ratio > 0.0:
            raise ValueError(f"max_len_ratio={max_len_ratio!r} must be > 0")
        self.d_model = d_model
        self.vocab_size = vocab_size
        self.dim = dim
        self.ctc_weight = ctc_weight
        self.label_smoothing = label_smoothing
        self.max_len_ratio = max_len_ratio
        self.enc_proj = nn.Linear(d_model, dim)
        self.decoder: _Decoder
        if decoder == "transformer":
            self.decoder = _TransformerDecoder(
                vocab_size=vocab_size,
                dim=dim,
                num_layers=num_layers,
                num_heads=heads,
                dropout=dropout,
            )
        else:
            self.decoder = _LSTMDecoder(
                vocab_size=vocab_size, dim=dim, num_layers=num_layers, dropout=dropout
            )
        self.ctc = CTCHead(d_model=d_model, vocab_size=vocab_size)

    def max_len(self, num_frames: int) -> int:
        """Most tokens (eos excluded) decoded from ``num_frames`` encoder frames."""
        return max(1, int(self.max_len_ratio * num_frames))

    def _memory(self, enc: Tensor, enc_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, D), (B,) -> projected frames (B, T, E) and their mask (B, T), True = valid."""
        if bool((enc_lens < 1).any()):
            raise ValueError(f"enc_lens={enc_lens.tolist()} must all be >= 1")
        return self.enc_proj(enc), lengths_to_mask(enc_lens, enc.shape[1])

    def loss(self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """Mean over the batch of each utterance's weighted attention + CTC loss.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames, each >= 1.
            targets: (B, U) int64 token ids in 1 .. V-1, padded with anything.
            target_lens: (B,) valid tokens.

        Returns:
            Scalar loss (see the class docstring).
        """
        memory, mem_mask = self._memory(enc, enc_lens)
        b, u = targets.shape
        valid = lengths_to_mask(target_lens, u)  # (B, U)
        tokens = targets.masked_fill(~valid, self.eos)  # padding -> eos: the embedding's range
        eos_col = tokens.new_full((b, 1), self.eos)
        inputs = torch.cat([eos_col, tokens], dim=1)  # (B, U + 1): start symbol, y_1 .. y_U
        outputs = torch.cat([tokens, eos_col], dim=1)  # (B, U + 1): y_1 .. y_U, eos at U_b
        logits = self.decoder(inputs, memory, mem_mask)  # (B, U + 1, V)
        ce = nn.functional.cross_entropy(
            logits.float().transpose(1, 2),  # (B, U + 1, V) -> (B, V, U + 1)
            outputs,
            reduction="none",
            label_smoothing=self.label_smoothing,
        )  # (B, U + 1)
        keep = lengths_to_mask(target_lens + 1, u + 1).to(ce.dtype)
        loss = (1.0 - self.ctc_weight) * (ce * keep).sum(dim=1).mean()
        if self.ctc_weight > 0.0:
            loss = loss + self.ctc_weight * self.ctc.loss(enc, enc_lens, targets, target_lens)
        return loss

    @torch.no_grad()
    def greedy_decode(self, enc: Tensor, enc_lens: Tensor) -> list[list[int]]:
        """Argmax token by token, batched; an utterance stops at eos or at ``max_len`` tokens.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames, each >= 1.

        Returns:
            Token ids per utterance (no eos).
        """
        memory, mem_mask = self._memory(enc, enc_lens)
        limits = [self.max_len(int(n)) for n in enc_lens]
        out: list[list[int]] = [[] for _ in limits]
        state = self.decoder.init_state(memory, mem_mask)
        active = list(range(len(limits)))  # utterances still decoding, one state row each
        prev = torch.full((len(active),), self.eos, dtype=torch.long, device=enc.device)
        while active:
            logits, state = self.decoder.step(prev, state)
            best = logits.argmax(dim=-1)  # (B_active,)
            rows = []  # rows that go on: no eos yet and below their length limit
            for row, (i, tok) in enumerate(zip(active, best.tolist(), strict=True)):
                if tok == self.eos:
                    continue
                out[i].append(tok)
                if len(out[i]) < limits[i]:
                    rows.append(row)
            keep = torch.tensor(rows, dtype=torch.long, device=enc.device)
            active = [active[r] for r in rows]
            state = _select(state, keep)
            prev = best.index_select(0, keep)
        return out

    @torch.no_grad()
    def beam_decode(self, enc: Tensor, enc_lens: Tensor, beam_size: int = 4) -> list[list[int]]:
        """Beam search per utterance, ranked by length-normalised log-probability.

        Each step extends every live hypothesis by every token and keeps the ``beam_size``
        extensions with the highest (unnormalised) log-probability; those ending in eos are
        finished and leave the beam, which therefore shrinks, and the search ends when no
        hypothesis is live. Hypotheses reaching ``max_len`` tokens are closed with eos. The
        finished hypothesis with the best normalised score (log-probability over tokens + 1,
        as :meth:`score`) wins; ``beam_size=1`` is greedy decoding.

        Pruning by unnormalised score can drop the greedy path and end on a hypothesis whose
        normalised score is lower (about 1% of small random heads). The greedy hypothesis is
        therefore kept as a candidate, and the final choice between it and the beam's best is
        made with :meth:`score`, so the result never scores below :meth:`greedy_decode`'s.

        Args:
            enc: (B, T, D) encoder output.
            enc_lens: (B,) valid frames, each >= 1.
            beam_size: Hypotheses kept per step; at least 1.

        Returns:
            Token ids per utterance (no eos).
        """
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size!r} must be >= 1")
        memory, mem_mask = self._memory(enc, enc_lens)
        greedy = self.greedy_decode(enc, enc_lens)
        out = []
        for i, n in enumerate(enc_lens.tolist()):
            best = self._beam_one(memory[i : i + 1, :n], mem_mask[i : i + 1, :n], beam_size)
            if best != greedy[i]:
                candidates = (best, greedy[i])
                best = max(candidates, key=lambda tokens: self.score(enc[i], n, tokens))
            out.append(best)
        return out

    def _beam_one(self, memory: Tensor, mem_mask: Tensor, beam_size: int) -> list[int]:
        """Beam search over one utterance's memory (1, T, E)."""
        limit = self.max_len(memory.shape[1])
        state = self.decoder.init_state(memory, mem_mask)
        hyps: list[list[int]] = [[]]  # live hypotheses, one state row each
        scores = memory.new_zeros(1, dtype=torch.float64)  # (K,) log-probabilities
        prev = torch.full((1,), self.eos, dtype=torch.long, device=memory.device)
        finished: list[tuple[float, list[int]]] = []  # (normalised score, tokens)
        while hyps:
            logits, state = self.decoder.step(prev, state)
            logp = torch.log_softmax(logits.double(), dim=-1)  # (K, V)
            if len(hyps[0]) == limit:  # close every live hypothesis with eos
                ends = (scores + logp[:, self.eos]).tolist()
                finished += [(s / (limit + 1), h) for s, h in zip(ends, hyps, strict=True)]
                break
            total = (scores[:, None] + logp).flatten()  # (K, V) -> (K * V,)
            top = total.topk(min(beam_size, total.numel()))
            rows, toks, kept = [], [], []
            for s, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                row, tok = divmod(flat, self.vocab_size)
                if tok == self.eos:
                    finished.append((s / (len(hyps[row]) + 1), hyps[row]))
                else:
                    rows.append(row)
                    toks.append(tok)
                    kept.append(s)
            index = torch.tensor(rows, dtype=torch.long, device=memory.device)
            state = _select(state, index)
            hyps = [[*hyps[r], t] for r, t in zip(rows, toks, strict=True)]
            scores = torch.tensor(kept, dtype=torch.float64, device=memory.device)
            prev = torch.tensor(toks, dtype=torch.long, device=memory.device)
        return max(finished, key=lambda f: f[0])[1]

    @torch.no_grad()
    def score(self, enc_one: Tensor, enc_len: int, tokens: list[int]) -> float:
        """Length-normalised log-probability of ``tokens`` followed by eos.

        ``(log P(y_1 .. y_U, eos | enc)) / (U + 1)`` under teacher forcing, the score beam
        search ranks by. Call in eval mode.

        Args:
            enc_one: (T, D) one utterance's encoder output (frames past ``enc_len`` ignored).
            enc_len: Valid frames, >= 1.
            tokens: Token ids in 1 .. V-1 (possibly none).
        """
        if any(not 0 < t < self.vocab_size for t in tokens):
            raise ValueError(f"tokens={tokens!r} must lie in 1 .. {self.vocab_size - 1}")
        enc = enc_one[None, :enc_len]  # (T, D) -> (1, T', D)
        memory, mem_mask = self._memory(enc, torch.tensor([enc_len], device=enc.device))
        inputs = torch.tensor([[self.eos, *tokens]], device=enc.device)  # (1, U + 1)
        outputs = torch.tensor([*tokens, self.eos], device=enc.device)  # (U + 1,)
        logp = torch.log_softmax(self.decoder(inputs, memory, mem_mask)[0].double(), dim=-1)
        return float(logp.gather(1, outputs[:, None]).sum()) / len(outputs)

    def macs(self, num_frames: int, num_tokens: int) -> int:
        """MACs of greedy decoding one utterance into ``num_tokens`` tokens, then eos.

        Counted: the encoder projection (``T * D * E``, once); the projection of the encoder
        frames to attention keys and values (``2 * T * E^2`` per attention, once); and for
        each of the ``num_tokens + 1`` steps the decoder's matrix products: Transformer
        layers (self-attention projections of the new position ``4 E^2`` and its attention
        over the cached prefix ``2 * (l + 1) * E`` at step l, cross-attention ``2 E^2 + 2 T E``,
        FFN ``8 E^2``) or the LSTM (``4E * 3E`` for the first layer, ``4E * 2E`` above),
        attention ``2 E^2 + 2 T E`` and ``2E * V``; then the output projection. Not counted:
        the CTC branch (training only), embeddings, norms, softmaxes and biases.
        """
        total = num_frames * self.d_model * self.dim + self.decoder.memory_macs(num_frames)
        for position in range(num_tokens + 1):
            total += self.decoder.step_macs(num_frames, position)
        return total
