"""Transcript normalisation and tokenizers (characters or SentencePiece BPE, blank = id 0)."""

from __future__ import annotations

from speechnas.text.normalize import is_character_language, normalize
from speechnas.text.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    build_tokenizer,
    tokenizer_from_state,
)

__all__ = [
    "BPETokenizer",
    "CharTokenizer",
    "Tokenizer",
    "build_tokenizer",
    "is_character_language",
    "normalize",
    "tokenizer_from_state",
]
