"""Tokenizer contract (every tokenizer), plus char- and BPE-specific behaviour."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
import torch

from speechnas.text import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    build_tokenizer,
    normalize,
    tokenizer_from_state,
)

ENGLISH = [
    normalize(t)
    for t in [
        "The quick brown fox jumps over the lazy dog.",
        "Don't stop me now, I'm having such a good time!",
        "She sells sea-shells by the sea shore.",
        "How much wood would a woodchuck chuck?",
        "Peter Piper picked a peck of pickled peppers.",
        "It's 42 degrees in the shade today.",
    ]
]
RUSSIAN = [
    normalize(t, "ru")
    for t in [
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "В чащах юга жил бы цитрус? Да, но фальшивый экземпляр!",
        "Широкая электрификация южных губерний даст мощный толчок.",
    ]
]
CHINESE = [normalize(t, "zh") for t in ["今天天气很好，我们去公园散步。", "我喜欢学习中文。"]]

Factory = Callable[[list[str]], Tokenizer]
FACTORIES: dict[str, Factory] = {
    "char": lambda texts: build_tokenizer("char", texts),
    "bpe": lambda texts: build_tokenizer("bpe", texts * 5, vocab_size=80),
}
CORPORA = {"english": ENGLISH, "russian": RUSSIAN, "chinese": CHINESE}


@pytest.fixture(params=sorted(FACTORIES))
def factory(request: pytest.FixtureRequest) -> Factory:
    return FACTORIES[request.param]


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_round_trip_and_blank_never_encoded(factory: Factory, corpus: str) -> None:
    texts = CORPORA[corpus]
    tok = factory(texts)
    for text in texts:
        ids = tok.encode(text)
        assert ids
        assert all(1 <= i < tok.vocab_size for i in ids)
        assert Tokenizer.blank_id not in ids
        assert Tokenizer.unk_id not in ids
        assert tok.decode(ids) == text
        # decode skips blanks wherever they are (CTC output before repeat collapsing)
        with_blanks = [0] + [x for i in ids for x in (i, 0)]
        assert tok.decode(with_blanks) == text


def test_state_round_trip_through_torch_checkpoint(factory: Factory) -> None:
    tok = factory(ENGLISH)
    state = tok.to_state()
    json.dumps(state)  # JSON-safe primitives only
    buffer = io.BytesIO()
    torch.save({"tokenizer": state, "step": 3}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    restored = tokenizer_from_state(loaded["tokenizer"])
    assert type(restored) is type(tok)
    assert restored == tok
    assert restored.vocab_size == tok.vocab_size
    for text in ENGLISH:
        assert restored.encode(text) == tok.encode(text)


def test_pieces_name_every_id(factory: Factory) -> None:
    tok = factory(ENGLISH)
    pieces = tok.pieces()
    assert len(pieces) == tok.vocab_size == len(set(pieces))


def test_char_pieces_agree_between_vocabularies() -> None:
    # A vocabulary of more text spells the same text with the same pieces, at other ids.
    small, big = build_tokenizer("char", ENGLISH), build_tokenizer("char", ENGLISH + RUSSIAN)
    for text in ENGLISH:
        spelled = [small.pieces()[i] for i in small.encode(text)]
        assert spelled == [big.pieces()[j] for j in big.encode(text)] == list(text)


def test_unknown_characters_map_to_unk(factory: Factory) -> None:
    tok = factory(ENGLISH)
    ids = tok.encode("the ж fox")
    assert Tokenizer.unk_id in ids
    assert "\u2047" in tok.decode(ids)


def test_decode_rejects_out_of_range_ids(factory: Factory) -> None:
    tok = factory(ENGLISH)
    with pytest.raises(ValueError, match="ids must lie in"):
        tok.decode([tok.vocab_size])
    with pytest.raises(ValueError, match="ids must lie in"):
        tok.decode([-1])


def test_char_layout_is_sorted_and_deterministic() -> None:
    tok = CharTokenizer.train(["ba c", "ab"])
    assert tok.symbols == ["<blank>", "<unk>", " ", "a", "b", "c"]
    assert tok.encode("cab a") == [5, 3, 4, 2, 3]
    assert CharTokenizer.train(["ab", "ba c"]) == tok
    assert tok.to_state() == {"kind": "char", "version": 1, "symbols": tok.symbols}


def test_bpe_training_is_deterministic() -> None:
    a = BPETokenizer.train(ENGLISH * 5, vocab_size=80)
    b = BPETokenizer.train(ENGLISH * 5, vocab_size=80)
    assert a.to_state() == b.to_state()
    assert a.vocab_size == 80
    assert a.id_to_piece(0) == "<blank>"
    assert a.id_to_piece(1) == "<unk>"


def test_bpe_merges_into_subwords() -> None:
    tok = BPETokenizer.train(ENGLISH * 5, vocab_size=80)
    chars = CharTokenizer.train(ENGLISH)
    assert len(tok.encode(ENGLISH[0])) < len(chars.encode(ENGLISH[0]))


def test_bpe_vocab_size_is_an_upper_bound_and_too_small_is_an_error() -> None:
    assert BPETokenizer.train(["ab ab ab"], vocab_size=500).vocab_size < 500
    with pytest.raises(ValueError, match="vocab_size=5"):
        BPETokenizer.train(ENGLISH, vocab_size=5)


def test_builder_and_state_errors() -> None:
    with pytest.raises(ValueError, match="vocab_size is required"):
        build_tokenizer("bpe", ENGLISH)
    with pytest.raises(ValueError, match="unknown tokenizer kind 'wordpiece'"):
        build_tokenizer("wordpiece", ENGLISH)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        tokenizer_from_state({"kind": "nope"})
    with pytest.raises(ValueError, match="version"):
        tokenizer_from_state({"kind": "char", "version": 99, "symbols": []})
    with pytest.raises(ValueError, match="symbols must start"):
        CharTokenizer(["a", "b"])
