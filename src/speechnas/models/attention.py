"""Multi-head self-attention for the attention encoder families (Conformer, Transformer).

Legend: B batch, T frames, D ``width``, H heads, d = D / H per-head width, Q queries per
block, S keys per block (``Q + left + right``), N blocks, R relative distances (``Q + S - 1``).

Four kinds, all built from ``nn.Linear`` and :class:`~speechnas.models._blocks.MatMul` so that
MAC-counting hooks see every product:

* ``abs``: scaled dot-product attention; absolute positions are added to the encoder input
  elsewhere.
* ``rel``: relative positional attention (Transformer-XL, Conformer): for query ``i`` and key
  ``j``, ``score = (q_i + u) . k_j + (q_i + v) . p(i - j)``, with ``p`` a bias-free projection
  of sinusoidal embeddings of the distance and ``u``, ``v`` learnt per head.
* ``local``: ``abs`` restricted to keys with ``|i - j| <= window``.
* ``linear``: kernelised attention (Katharopoulos et al., 2020) with ``phi = elu + 1``:
  ``out_i = phi(q_i) (sum_j phi(k_j)^T v_j) / (phi(q_i) . sum_j phi(k_j))``, linear in ``T``.

Streaming (``chunk`` set): query ``i`` in chunk ``c = i // chunk`` sees the keys ``j`` with
``c * chunk - left_context <= j < (c + 1) * chunk``. :func:`attention_mask` states which keys a
query may see, and both :meth:`SelfAttention.forward` and :meth:`SelfAttention.step` use it.

Softmax kinds compute scores block by block: queries are cut into blocks of ``Q`` frames and
each block attends to the ``S`` keys around it, so chunked and local attention cost
``O(T * S)`` rather than ``O(T^2)``. The layout (one dense block, chunk blocks or window
blocks) is whichever costs the fewest score entries; the mask makes them all exact.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from speechnas.models._blocks import Dropout, MatMul, sinusoids
from speechnas.models._masks import lengths_to_mask, zero_padding

__all__ = [
    "ATTENTION_KINDS",
    "AttentionState",
    "SelfAttention",
    "attention_mask",
    "check_attention_layer",
]

ATTENTION_KINDS = ("abs", "rel", "local", "linear")

#: Stream state: cached keys and values of the last ``left_context`` frames, each
#: ``(B, H, left_context, d)``, and the absolute position of the next frame (an int, or a
#: 0-dim integer tensor where the position is a graph input, as in an exported stream step).
AttentionState = tuple[Tensor, Tensor, "int | Tensor"]


def attention_mask(
    q_pos: Tensor,
    k_pos: Tensor,
    *,
    chunk: int | None = None,
    left_context: int | None = None,
    window: int | None = None,
) -> Tensor:
    """Which keys each query may attend to, from absolute frame indices.

    A key is allowed when it exists (``k_pos >= 0``), lies within ``window`` frames of the
    query (if ``window`` is given) and, with ``chunk`` given, lies in the query's chunk or in
    the ``left_context`` frames before it (any number before it if ``left_context`` is None).
    Padding (keys past an utterance's length) is the caller's business.

    Args:
        q_pos: Query frame indices, any integer shape broadcastable with ``k_pos``.
        k_pos: Key frame indices.
        chunk: Frames per streaming chunk, or None for full context.
        left_context: Frames before the chunk that a chunk's queries may see.
        window: Largest allowed ``|q_pos - k_pos|``, or None for no limit.

    Returns:
        A bool tensor of the broadcast shape, True where attention is allowed.

    Example:
        >>> pos = torch.arange(6)
        >>> attention_mask(pos[:, None], pos[None, :], chunk=2, left_context=1).int()[4]
        tensor([0, 0, 0, 1, 1, 1], dtype=torch.int32)
    """
    allowed = k_pos >= 0
    if window is not None:
        allowed = allowed & ((q_pos - k_pos).abs() <= window)
    if chunk is not None:
        start = torch.div(q_pos, chunk, rounding_mode="floor") * chunk
        allowed = allowed & (k_pos < start + chunk)
        if left_context is not None:
            allowed = allowed & (k_pos >= start - left_context)
    return allowed


class _Layout(NamedTuple):
    """Queries per block, and keys before the block's first / after its last query.

    ``dense``: one block holds every query and key (full context); its windows are plain
    views, which also keeps the frame count symbolic when the model is exported.
    """

    block: int
    left: int
    right: int
    dense: bool = False

    @property
    def span(self) -> int:
        return self.block + self.left + self.right

    def rows(self, num_queries: int) -> int:
        """Query rows after padding ``num_queries`` up to whole blocks."""
        if self.dense:
            return num_queries
        # Ceiling division written with non-negative operands only: exported graphs divide
        # integers by truncation, which differs from floor division below zero.
        return (num_queries + self.block - 1) // self.block * self.block


def _window_index(span: int, step: int, count: int, device: torch.device) -> Tensor:
    """(count, span): the frames of ``count`` windows of ``span`` frames, ``step`` apart."""
    starts = torch.arange(count, device=device) * step
    return starts[:, None] + torch.arange(span, device=device)[None, :]


def _windows(x: Tensor, span: int, step: int, count: int) -> Tensor:
    """(B, H, L, d) -> (B, H, count, d, span): windows of frames, as ``unfold(2, span, step)``.

    ``unfold`` is a view; an exported graph gathers the windows instead, since the ONNX
    conversion of ``unfold`` fixes the number of windows at the traced length.
    """
    if not torch.compiler.is_exporting():
        return x.unfold(2, span, step)
    index = _window_index(span, step, count, x.device).reshape(-1)
    picked = x.index_select(2, index)  # (B, H, count * span, d)
    b, h, _, d = x.shape
    return picked.view(b, h, count, span, d).transpose(-1, -2)


def _masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim of the allowed entries; rows with none allowed give zeros.

    Masked scores become the dtype's lowest finite value rather than ``-inf``, so a fully
    masked row is a uniform softmax (no NaN) that the final multiplication by the mask zeroes.
    """
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * mask


class SelfAttention(nn.Module):
    """Multi-head self-attention of kind ``abs``, ``rel``, ``local`` or ``linear``.

    ``forward(x (B, T, D), x_lens (B,)) -> (B, T, D)``: padded keys are never attended and
    padded output frames are zero. With ``chunk`` set the attention is chunked (see the module
    docstring) and streams through :meth:`initial_state` / :meth:`step`.

    Args:
        width: Model width ``D``.
        heads: Attention heads ``H``; must divide ``width``.
        kind: ``abs``, ``rel``, ``local`` or ``linear``.
        window: Frames each side that ``local`` attention sees (other kinds ignore it).
        chunk: Frames per streaming chunk, or None for full context. Not with ``linear``.
        left_context: Frames before its chunk that a query may see; required with ``chunk``.
        dropout: Dropout on the attention weights in training (``linear`` has no weight
            matrix and ignores it).

    Raises:
        ValueError: For a bad ``width``, ``heads``, ``kind``, ``window``, ``chunk``,
            ``left_context`` or ``dropout``, ``chunk`` with ``linear``, ``chunk`` without
            ``left_context`` or ``left_context`` without ``chunk``.

    Example:
        >>> attn = SelfAttention(width=16, heads=4, kind="rel", chunk=4, left_context=8)
        >>> attn(torch.randn(2, 10, 16), torch.tensor([10, 7])).shape
        torch.Size([2, 10, 16])
    """

    def __init__(
        self,
        *,
        width: int,
        heads: int,
        kind: str,
        window: int = 16,
        chunk: int | None = None,
        left_context: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_int("width", width, 1)
        _check_int("heads", heads, 1)
        if width % heads:
            raise ValueError(f"heads={heads!r} is invalid; it must divide width={width}")
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"kind={kind!r} is invalid; expected one of {ATTENTION_KINDS}")
        _check_int("window", window, 1)
        if chunk is not None:
            _check_int("chunk", chunk, 1)
            if kind == "linear":
                raise ValueError(
                    f"chunk={chunk!r} is invalid with kind='linear': chunk masks make "
                    "kernelised attention quadratic; use None"
                )
            if left_context is None:
                raise ValueError("left_context=None is invalid with chunk set; expected >= 0")
        if left_context is not None:
            _check_int("left_context", left_context, 0)
            if chunk is None:
                raise ValueError(
                    f"left_context={left_context!r} is invalid without chunk; expected None"
                )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} is invalid; expected a number in [0, 1)")
        self.width = width
        self.heads = heads
        self.head_width = width // heads
        self.kind = kind
        self.window = window
        self.chunk = chunk
        self.left_context = left_context
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.matmul = MatMul()
        self.dropout = Dropout(dropout)
        if kind == "rel":
            self.pos_proj = nn.Linear(width, width, bias=False)
            # Start as content-only attention plus the positional term.
            self.pos_bias_u = nn.Parameter(torch.zeros(heads, self.head_width))
            self.pos_bias_v = nn.Parameter(torch.zeros(heads, self.head_width))

    # --- layout ----------------------------------------------------------------------------

    def _layout(self, num_frames: int) -> _Layout:
        """The cheapest block layout that covers every allowed key of ``num_frames`` queries.

        Candidates: one dense block; chunk blocks (keys from ``left_context`` before the chunk,
        or only ``window`` before it for ``local``); window blocks of ``window`` queries with
        ``window`` keys each side (``local`` only). Ties go to the earlier candidate.
        """
        candidates = [_Layout(num_frames, 0, 0, dense=True)]
        if self.chunk is not None and self.left_context is not None:
            left = self.left_context
            if self.kind == "local":
                left = min(left, self.window)
            candidates.append(_Layout(self.chunk, left, 0))
        if self.kind == "local":
            candidates.append(_Layout(self.window, self.window, self.window))
        if len(candidates) == 1:
            return candidates[0]
        if torch.compiler.is_exporting():
            # Which layout is cheapest depends on the length, but an exported graph serves
            # every length: take the blocked one, exact at any length.
            return candidates[-1]
        return min(candidates, key=lambda lay: lay.rows(num_frames) * lay.span)

    def _mask(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        window = self.window if self.kind == "local" else None
        return attention_mask(
            q_pos, k_pos, chunk=self.chunk, left_context=self.left_context, window=window
        )

    # --- pieces ----------------------------------------------------------------------------

    def _split(self, h: Tensor) -> Tensor:
        batch, frames, _ = h.shape
        # (B, T, D) -> (B, T, H, d) -> (B, H, T, d)
        return h.view(batch, frames, self.heads, self.head_width).transpose(1, 2)

    def _merge(self, h: Tensor) -> Tensor:
        batch, _, frames, _ = h.shape
        # (B, H, T, d) -> (B, T, H, d) -> (B, T, D)
        return h.transpose(1, 2).reshape(batch, frames, self.width)

    def _relative_keys(self, layout: _Layout) -> Tensor:
        """(1, H, 1, d, R) projected embeddings of the R distances a block can see.

        Column ``r`` holds distance ``block - 1 + left - r`` (largest first), which covers
        ``i - j`` for every query row ``i`` and key column ``j`` of a block.
        """
        num = layout.block + layout.span - 1
        device = self.pos_proj.weight.device
        distances = (layout.block - 1 + layout.left) - torch.arange(num, device=device)
        emb = sinusoids(distances, self.width).to(self.pos_proj.weight.dtype)  # (R, D)
        p: Tensor = self.pos_proj(emb).view(num, self.heads, self.head_width)  # (R,D)->(R,H,d)
        return p.permute(1, 2, 0)[None, :, None]  # (R, H, d) -> (1, H, 1, d, R)

    def _scores(self, q: Tensor, k_t: Tensor, layout: _Layout) -> Tensor:
        """(B, H, N, Q, d) queries, (B, H, N, d, S) keys -> (B, H, N, Q, S) scaled scores."""
        scale = self.head_width**-0.5
        q = q * scale
        if self.kind != "rel":
            return self.matmul(q, k_t)  # type: ignore[no-any-return]
        u = self.pos_bias_u[None, :, None, None, :] * scale  # (H, d) -> (1, H, 1, 1, d)
        v = self.pos_bias_v[None, :, None, None, :] * scale
        content: Tensor = self.matmul(q + u, k_t)  # (B, H, N, Q, S)
        by_distance: Tensor = self.matmul(q + v, self._relative_keys(layout))  # (B, H, N, Q, R)
        # Query row a, key column b sits at distance a - b + left, i.e. column
        # (block - 1 - a) + b of the distance table.
        rows = torch.arange(layout.block, device=q.device)
        cols = torch.arange(layout.span, device=q.device)
        index = (layout.block - 1 - rows)[:, None] + cols[None, :]  # (Q, S)
        positional = by_distance.gather(-1, index.expand(*content.shape))  # (B, H, N, Q, S)
        return content + positional

    def _attend(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        q_start: int | Tensor,
        k_offset: int,
        key_end: Tensor,
        layout: _Layout,
    ) -> Tensor:
        """Softmax attention block by block.

        Args:
            q: (B, H, Tq, d) queries of frames ``q_start, q_start + 1, ...``; ``q_start`` may
                be a 0-dim tensor (a stream position that is a graph input).
            k: (B, H, Tk, d) keys of frames ``q_start + k_offset, ...``; they must include
                every key a block of ``layout`` reaches that exists
                (``k_offset <= -layout.left`` or the frames before the first key do not
                exist).
            v: (B, H, Tk, d) values, like ``k``.
            key_end: (B,) first frame past each item's keys (its length).
            layout: The block layout.

        Returns:
            (B, H, Tq, d) attention outputs.
        """
        batch, heads, num_queries, head_width = q.shape
        block, span = layout.block, layout.span
        rows = layout.rows(num_queries)
        num_blocks = rows // block
        first_key = q_start - layout.left  # frame of key column 0 of block 0
        k_start = q_start + k_offset
        pad_left = k_offset + layout.left  # k_start - first_key, known without q_start
        pad_right = rows + layout.left + layout.right - pad_left - k.shape[2]
        pad = (0, 0, pad_left, pad_right)
        q = nn.functional.pad(q, (0, 0, 0, rows - num_queries))
        q = q.view(batch, heads, num_blocks, block, head_width)  # (B, H, rows, d) -> blocks
        # (B, H, rows + left + right, d) -> (B, H, N, d, S): overlapping windows of keys
        device = q.device
        q_pos = (q_start + torch.arange(rows, device=device)).view(num_blocks, block)  # (N, Q)
        if layout.dense:  # the one window is everything
            k_t = k.unsqueeze(2).transpose(-1, -2)
            v_b = v.unsqueeze(2)
            k_pos = (first_key + torch.arange(span, device=device))[None]  # (1, S)
        else:
            k_t = _windows(nn.functional.pad(k, pad), span, block, num_blocks)
            v_b = _windows(nn.functional.pad(v, pad), span, block, num_blocks).transpose(-1, -2)
            k_pos = first_key + _window_index(span, block, num_blocks, device)  # (N, S)
        allowed = self._mask(q_pos[:, :, None], k_pos[:, None, :])  # (N, Q, S)
        key_end = key_end.to(device)[:, None, None]
        present = (k_pos >= k_start) & (k_pos[None] < key_end)  # (B, N, S)
        mask = allowed[None, None] & present[:, None, :, None, :]  # (B, 1, N, Q, S)

        probs = self.dropout(_masked_softmax(self._scores(q, k_t, layout), mask))
        out: Tensor = self.matmul(probs, v_b)  # (B, H, N, Q, d)
        # (B, H, N, Q, d) -> (B, H, rows, d), dropping the padded query rows
        return out.reshape(batch, heads, rows, head_width)[:, :, :num_queries]

    def _linear(self, q: Tensor, k: Tensor, v: Tensor, x_lens: Tensor) -> Tensor:
        """(B, H, T, d) queries, keys, values -> (B, H, T, d) kernelised attention."""
        valid = lengths_to_mask(x_lens, k.shape[2]).to(k.dtype)[:, None, :, None]  # (B,1,T,1)
        phi_q = nn.functional.elu(q) + 1.0
        phi_k = (nn.functional.elu(k) + 1.0) * valid  # padded keys contribute nothing
        kv = self.matmul(phi_k.transpose(-1, -2), v)  # (B, H, d, d)
        numerator: Tensor = self.matmul(phi_q, kv)  # (B, H, T, d)
        k_sum = phi_k.sum(dim=2)[..., None]  # (B, H, d, 1)
        denominator: Tensor = self.matmul(phi_q, k_sum)  # (B, H, T, 1); 0 only with no keys
        return numerator / denominator.clamp(min=torch.finfo(denominator.dtype).tiny)

    # --- public ----------------------------------------------------------------------------

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """(B, T, D), (B,) -> (B, T, D); padded output frames are zero."""
        if x.shape[1] == 0:
            return x
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        if self.kind == "linear":
            h = self._linear(q, k, v, x_lens)
        else:
            layout = self._layout(x.shape[1])
            h = self._attend(q, k, v, q_start=0, k_offset=0, key_end=x_lens, layout=layout)
        return zero_padding(self.out(self._merge(h)), x_lens)

    def initial_state(self, batch_size: int) -> AttentionState:
        """Chunked attention only: empty key/value caches (frames before 0, masked), frame 0."""
        if self.chunk is None or self.left_context is None:
            raise RuntimeError("initial_state() needs chunk set")
        w = self.key.weight
        shape = (batch_size, self.heads, self.left_context, self.head_width)
        cache = torch.zeros(shape, device=w.device, dtype=w.dtype)
        return cache, cache.clone(), 0

    def step(
        self, x: Tensor, state: AttentionState, valid: int | Tensor | None = None
    ) -> tuple[Tensor, AttentionState]:
        """Process the next frames ``(B, T_step, D)`` of a stream whose items all have full length.

        A step must start on a chunk boundary: every step but a stream's last gets a multiple
        of ``chunk`` frames. Equal to :meth:`forward` on the whole stream.

        Args:
            x: The step's frames.
            state: From :meth:`initial_state` or the previous step.
            valid: How many of the step's frames are speech; the rest pad a fixed-size last
                step and are never attended to. ``None``: all of them.

        Returns:
            ``(B, T_step, D)`` outputs and the new state.

        Raises:
            ValueError: If the step does not start on a chunk boundary.
        """
        if self.chunk is None or self.left_context is None:
            raise RuntimeError("step() needs chunk set")
        k_cache, v_cache, pos = state
        if x.shape[1] == 0:
            return self.out(x), state  # (B, 0, D)
        if isinstance(pos, int) and pos % self.chunk:
            raise ValueError(
                f"x.shape[1]={x.shape[1]!r} is invalid at frame {pos}: the previous step "
                f"ended inside a chunk of {self.chunk}; only a stream's last step may"
            )
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        k = torch.cat([k_cache, k], dim=2)  # (B, H, left_context + T_step, d)
        v = torch.cat([v_cache, v], dim=2)
        end = pos + x.shape[1]
        speech = x.shape[1] if valid is None else valid
        key_end = torch.zeros(x.shape[0], dtype=torch.long, device=x.device) + (pos + speech)
        layout = _Layout(self.chunk, self.left_context, 0)
        h = self._attend(
            q, k, v, q_start=pos, k_offset=-self.left_context, key_end=key_end, layout=layout
        )
        keep = k.shape[2] - self.left_context
        return self.out(self._merge(h)), (k[:, :, keep:], v[:, :, keep:], end)

    def macs(self, num_frames: int) -> int:
        """Multiply-accumulates of :meth:`forward` on one utterance of ``num_frames`` frames.

        ``4 T D^2`` for the projections, plus for ``linear`` ``2 T D d + T D``; for the
        softmax kinds ``2 rows S D`` (scores and weighted values, ``rows`` = ``T`` rounded up
        to whole blocks of the layout), and for ``rel`` also ``rows R D + R D^2``.
        """
        t, d = num_frames, self.width
        if t == 0:
            return 0
        total = 4 * t * d * d
        if self.kind == "linear":
            return total + 2 * t * d * self.head_width + t * d
        layout = self._layout(t)
        rows = layout.rows(t)
        total += 2 * rows * layout.span * d
        if self.kind == "rel":
            distances = layout.block + layout.span - 1
            total += rows * distances * d + distances * d * d
        return total

    def activation_elements(self, num_frames: int) -> int:
        """Peak live activation elements inside :meth:`forward`, input and output included.

        Softmax kinds peak at the softmax: the input, q, k and v (``4 T D``), the blocked
        copies of q, k and v (``rows D + 2 N S D``), the mask (``rows S``), scores and
        weights (``2 H rows S``) and for ``rel`` the distance table and its projection
        (``2 R D``), the per-distance scores (``H rows R``) and their gathered copy
        (``H rows S``). ``linear`` holds the input, q, k, v, phi(q), phi(k), the numerator,
        the quotient and the output (``9 T D``) plus ``H d^2`` and ``T H``.
        """
        t, d, h = num_frames, self.width, self.heads
        if self.kind == "linear":
            return 9 * t * d + h * self.head_width**2 + t * h
        layout = self._layout(t)
        rows, span = layout.rows(t), layout.span
        blocks = rows // layout.block
        total = 4 * t * d + rows * d + 2 * blocks * span * d + rows * span + 2 * h * rows * span
        if self.kind == "rel":
            distances = layout.block + span - 1
            total += 2 * distances * d + h * rows * distances + h * rows * span
        return total


def check_attention_layer(
    *,
    in_width: int,
    width: int,
    ffn_expansion: float,
    attention: str,
    causal: bool,
    chunk: int | None,
    left_context: int | None,
    dropout: float,
) -> int:
    """Check the arguments that the attention layers (Conformer, Transformer) share.

    Widths are integers >= 1, ``round(width * ffn_expansion) >= 1``, ``dropout`` is in
    [0, 1), ``attention`` is one of :data:`ATTENTION_KINDS`; ``causal=True`` needs ``chunk`` and
    ``left_context`` and an attention other than ``linear``, and ``causal=False`` (full
    context) takes neither. The rest (heads, window, chunk sizes) :class:`SelfAttention` checks.

    Returns:
        The feed-forward hidden width ``round(width * ffn_expansion)``.

    Raises:
        ValueError: Naming the offending argument and value.
    """
    _check_int("in_width", in_width, 1)
    _check_int("width", width, 1)
    if isinstance(ffn_expansion, bool) or not isinstance(ffn_expansion, int | float):
        raise ValueError(f"ffn_expansion={ffn_expansion!r} is invalid; expected a number > 0")
    hidden = round(width * ffn_expansion)
    if not ffn_expansion > 0 or hidden < 1:
        raise ValueError(
            f"ffn_expansion={ffn_expansion!r} is invalid; expected a number > 0 giving a hidden "
            f"width >= 1 (width={width})"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} is invalid; expected a number in [0, 1)")
    if attention not in ATTENTION_KINDS:
        raise ValueError(f"attention={attention!r} is invalid; expected one of {ATTENTION_KINDS}")
    if causal:
        if chunk is None or left_context is None:
            raise ValueError(
                f"causal=True is invalid with chunk={chunk!r}, left_context={left_context!r}; "
                "a streaming attention layer needs both"
            )
        if attention == "linear":
            raise ValueError(
                "attention='linear' is invalid with causal=True: chunk masks make kernelised "
                "attention quadratic; use abs, rel or local"
            )
    elif chunk is not None or left_context is not None:
        raise ValueError(
            f"chunk={chunk!r}, left_context={left_context!r} is invalid with causal=False; "
            "a full-context layer takes None for both"
        )
    return hidden


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} is invalid; expected an integer >= {minimum}")
