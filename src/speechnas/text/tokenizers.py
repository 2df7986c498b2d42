"""Tokenizers that turn normalised transcripts into CTC/RNN-T label ids and back.

Both tokenizers share one id layout: ``0`` is the CTC blank and ``1`` the unknown token;
real symbols start at 2. Text is expected to be normalised already
(:func:`speechnas.text.normalize`); tokenizers do not change case or punctuation.
"""

from __future__ import annotations

import abc
import base64
import io
import logging
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

import sentencepiece as spm

__all__ = [
    "BPETokenizer",
    "CharTokenizer",
    "Tokenizer",
    "build_tokenizer",
    "tokenizer_from_state",
]

logger = logging.getLogger(__name__)

_STATE_VERSION = 1
#: What ``decode`` writes for the unknown id (SentencePiece's default surface, U+2047).
UNK_SURFACE = "\u2047"


class Tokenizer(abc.ABC):
    """Text <-> label ids for CTC-style models.

    Contract (every tokenizer passes the suites in ``tests/text/test_tokenizers.py``):

    * ``vocab_size`` counts every id, the blank included; ids lie in ``[0, vocab_size)``.
    * Id :attr:`blank_id` (0) is the CTC blank. ``encode`` never returns it; ``decode`` skips
      it. Id :attr:`unk_id` (1) stands for text the vocabulary cannot spell.
    * ``decode(encode(t)) == t`` for normalised text ``t`` whose characters were seen in
      training. ``decode`` does not merge repeated ids: collapsing CTC repeats is the decoder's
      job.
    * ``to_state()`` returns a dict of JSON-safe values only (``str``, ``int``, ``float``,
      ``list``, ``dict``), with a ``"kind"`` key, so it can sit inside a checkpoint loaded with
      ``torch.load(weights_only=True)`` or be written as JSON;
      :func:`tokenizer_from_state` rebuilds an equal tokenizer from it.
    """

    blank_id: ClassVar[int] = 0
    unk_id: ClassVar[int] = 1
    kind: ClassVar[str]

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, blank included."""

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, each in ``[1, vocab_size)``."""

    @abc.abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; blanks are skipped.

        Raises:
            ValueError: if an id lies outside ``[0, vocab_size)``.
        """

    @abc.abstractmethod
    def to_state(self) -> dict[str, Any]:
        """JSON-safe description of the tokenizer (see the class docstring)."""

    @abc.abstractmethod
    def pieces(self) -> list[str]:
        """The text of every id, in id order (specials as their names): two tokenizers
        agree on an id's meaning where their pieces agree."""

    @classmethod
    @abc.abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Tokenizer:
        """Inverse of :meth:`to_state`."""

    def _check_ids(self, ids: Sequence[int]) -> None:
        bad = [i for i in ids if not 0 <= int(i) < self.vocab_size]
        if bad:
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got {bad[:5]}")


class CharTokenizer(Tokenizer):
    """One id per character; the space is an ordinary symbol.

    Ids: ``0`` blank (``"<blank>"``), ``1`` unknown (``"<unk>"``), ``2`` the space ``" "``,
    then the other training characters in code-point order, so training is deterministic and
    independent of text order. A character not seen in training encodes to ``unk_id`` and
    decodes to ``"⁇"`` (U+2047).

    Args:
        symbols: The full table, ``symbols[i]`` being the text of id ``i``; the first three
            must be ``"<blank>"``, ``"<unk>"`` and ``" "``, the rest distinct single characters.
            Usually built with :meth:`train`.

    Raises:
        ValueError: if ``symbols`` breaks the layout above.

    Example:
        >>> tok = CharTokenizer.train(["hello world"])
        >>> tok.encode("low")
        [6, 7, 9]
        >>> tok.decode([0, 6, 7, 0, 9])
        'low'
    """

    kind = "char"
    _SPECIALS: ClassVar[tuple[str, ...]] = ("<blank>", "<unk>", " ")

    def __init__(self, symbols: Sequence[str]) -> None:
        symbols = list(symbols)
        if tuple(symbols[:3]) != self._SPECIALS:
            raise ValueError(f"symbols must start with {list(self._SPECIALS)}, got {symbols[:3]}")
        chars = symbols[3:]
        if any(len(c) != 1 or c == " " for c in chars) or len(set(chars)) != len(chars):
            raise ValueError(f"symbols[3:] must be distinct single non-space characters: {chars}")
        self._symbols = symbols
        self._ids = {c: i for i, c in enumerate(symbols) if i >= 2}

    @classmethod
    def train(cls, texts: Iterable[str]) -> CharTokenizer:
        """Collect the characters of ``texts`` (normalised transcripts)."""
        chars: set[str] = set()
        for text in texts:
            chars.update(text)
        chars.discard(" ")
        return cls([*cls._SPECIALS, *sorted(chars)])

    @property
    def vocab_size(self) -> int:
        return len(self._symbols)

    @property
    def symbols(self) -> list[str]:
        """The symbol of every id (a copy)."""
        return list(self._symbols)

    def pieces(self) -> list[str]:
        return self.symbols

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(ch, self.unk_id) for ch in text]

    def decode(self, ids: Sequence[int]) -> str:
        self._check_ids(ids)
        pieces = (
            UNK_SURFACE if i == self.unk_id else self._symbols[i]
            for i in map(int, ids)
            if i != self.blank_id
        )
        return "".join(pieces)

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": _STATE_VERSION, "symbols": list(self._symbols)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CharTokenizer:
        _check_state(state, cls.kind)
        return cls(state["symbols"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and self._symbols == other._symbols

    def __hash__(self) -> int:
        return hash(tuple(self._symbols))


class BPETokenizer(Tokenizer):
    """Byte-pair-encoding subwords trained with SentencePiece (``model_type="bpe"``).

    The SentencePiece model is trained with ``pad_id=0`` (piece ``"<blank>"``), ``unk_id=1``
    and no BOS/EOS, so SentencePiece ids are our ids unchanged: the pad id, which SentencePiece
    never emits, is the CTC blank. Training uses ``normalization_rule_name="identity"`` (our
    normaliser already ran), ``character_coverage=1.0`` (every training character is a piece,
    so nothing seen in training maps to unk) and ``num_threads=1``, which makes the model a
    function of the texts alone. Characters unseen in training encode to ``unk_id`` and decode
    to ``" ⁇ "``.

    Args:
        model_proto: A serialized SentencePiece model with the id layout above, usually made
            by :meth:`train`.

    Raises:
        ValueError: if the model does not put the blank at 0 and unk at 1.

    Example:
        >>> tok = BPETokenizer.train(["the cat sat on the mat"] * 10, vocab_size=20)
        >>> tok.decode(tok.encode("the mat"))
        'the mat'
    """

    kind = "bpe"

    def __init__(self, model_proto: bytes) -> None:
        self._proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor(model_proto=self._proto)
        if self._sp.pad_id() != self.blank_id or self._sp.unk_id() != self.unk_id:
            raise ValueError(
                "model_proto must have pad_id=0 (blank) and unk_id=1, got "
                f"pad_id={self._sp.pad_id()}, unk_id={self._sp.unk_id()}"
            )

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
        """Train on ``texts`` (normalised transcripts) in memory.

        Args:
            texts: Training sentences; empty ones are ignored.
            vocab_size: Requested size, blank and unk included. It is an upper bound: when
                the texts run out of pairs to merge the vocabulary is smaller (logged);
                read :attr:`vocab_size` for the size actually trained.

        Raises:
            ValueError: if ``vocab_size`` cannot hold every character plus the two specials,
                or there is no text.
        """
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be >= 3, got {vocab_size}")
        sentences = [t for t in texts if t.strip()]
        if not sentences:
            raise ValueError("texts must contain at least one non-empty sentence")
        writer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=writer,
                model_type="bpe",
                vocab_size=vocab_size,
                hard_vocab_limit=False,
                character_coverage=1.0,
                normalization_rule_name="identity",
                pad_id=0,
                pad_piece="<blank>",
                unk_id=1,
                bos_id=-1,
                eos_id=-1,
                num_threads=1,
                minloglevel=2,
            )
        except RuntimeError as e:
            raise ValueError(
                f"SentencePiece training failed for vocab_size={vocab_size}: {e}"
            ) from e
        tokenizer = cls(writer.getvalue())
        if tokenizer.vocab_size < vocab_size:
            logger.info(
                "BPE vocabulary has %d pieces, fewer than the %d requested",
                tokenizer.vocab_size,
                vocab_size,
            )
        return tokenizer

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self._sp.encode(text, out_type=int)]

    def decode(self, ids: Sequence[int]) -> str:
        self._check_ids(ids)
        return str(self._sp.decode([int(i) for i in ids if int(i) != self.blank_id]))

    def pieces(self) -> list[str]:
        return [str(self._sp.id_to_piece(i)) for i in range(self.vocab_size)]

    def id_to_piece(self, token_id: int) -> str:
        """The SentencePiece piece of ``token_id`` (``"▁"`` marks a word start)."""
        self._check_ids([token_id])
        return str(self._sp.id_to_piece(token_id))

    def to_state(self) -> dict[str, Any]:
        model = base64.b64encode(self._proto).decode("ascii")
        return {"kind": self.kind, "version": _STATE_VERSION, "model": model}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BPETokenizer:
        _check_state(state, cls.kind)
        return cls(base64.b64decode(state["model"].encode("ascii"), validate=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BPETokenizer) and self._proto == other._proto

    def __hash__(self) -> int:
        return hash(self._proto)


_KINDS: dict[str, type[Tokenizer]] = {"bpe": BPETokenizer, "char": CharTokenizer}


def _check_state(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise ValueError(f"state['kind'] must be {kind!r}, got {state.get('kind')!r}")
    if state.get("version") != _STATE_VERSION:
        raise ValueError(
            f"state['version'] must be {_STATE_VERSION}, got {state.get('version')!r}"
        )


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_state`.

    Raises:
        ValueError: for an unknown ``state["kind"]`` or a wrong version.
    """
    kind = state.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; valid kinds: {sorted(_KINDS)}")
    return _KINDS[kind].from_state(state)


def build_tokenizer(
    kind: Literal["char", "bpe"], texts: Iterable[str], *, vocab_size: int | None = None
) -> Tokenizer:
    """Train a tokenizer of ``kind`` on normalised ``texts``.

    Args:
        kind: ``"char"`` or ``"bpe"``.
        texts: Normalised training transcripts.
        vocab_size: Required for ``"bpe"`` (see :meth:`BPETokenizer.train`); ignored for
            ``"char"``, whose vocabulary is the set of training characters.

    Raises:
        ValueError: for an unknown ``kind`` or a missing ``vocab_size`` for ``"bpe"``.

    Example:
        >>> build_tokenizer("char", ["ab ba"]).vocab_size
        5
    """
    if kind == "char":
        return CharTokenizer.train(texts)
    if kind == "bpe":
        if vocab_size is None:
            raise ValueError("vocab_size is required for kind='bpe', got None")
        return BPETokenizer.train(texts, vocab_size)
    raise ValueError(f"unknown tokenizer kind {kind!r}; valid kinds: {sorted(_KINDS)}")
