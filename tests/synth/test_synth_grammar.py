from __future__ import annotations

import re

import numpy as np
import pytest

from speechnas.synth._numbers import cardinal, ordinal
from speechnas.synth.grammar import Grammar, generate_sentences, load_grammar

_SENTENCE = re.compile(r"^[a-z']+( [a-z']+)*$")


def test_same_seed_same_sentences() -> None:
    a = generate_sentences(200, np.random.default_rng(7))
    b = generate_sentences(200, np.random.default_rng(7))
    c = generate_sentences(200, np.random.default_rng(8))
    assert a == b
    assert a != c


def test_text_is_lowercase_words_without_digits_or_punctuation() -> None:
    for sentence in generate_sentences(3000, np.random.default_rng(0)):
        assert _SENTENCE.match(sentence), sentence
        assert not any(ch.isdigit() for ch in sentence)


def test_vocabulary_and_variety() -> None:
    sentences = generate_sentences(3000, np.random.default_rng(1))
    vocabulary = {w for s in sentences for w in s.split()}
    assert len(vocabulary) >= 300
    assert len(set(sentences)) >= 2500
    # Spelled-out numbers, times and dates appear.
    text = " ".join(sentences)
    for word in ("o'clock", "twenty", "tomorrow", "march", "alarm", "weather"):
        assert word in vocabulary or word in text


def test_shipped_grammar_loads_and_is_cached() -> None:
    assert load_grammar() is load_grammar()
    assert "utterance" in load_grammar().rule_names


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (21, "twenty one"),
        (105, "one hundred and five"),
        (1905, "one thousand nine hundred and five"),
    ],
)
def test_cardinal(n: int, words: str) -> None:
    assert cardinal(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty first"),
        (31, "thirty first"),
    ],
)
def test_ordinal(n: int, words: str) -> None:
    assert ordinal(n) == words


def test_range_rule_and_possessive() -> None:
    g = Grammar(
        {"s": ["<name>'s <n> day"], "name": ["ann"], "n": {"range": [21, 21], "style": "ordinal"}},
        "s",
    )
    assert g.sample(np.random.default_rng(0)) == "ann's twenty first day"


@pytest.mark.parametrize(
    "rules",
    [
        {"s": ["call <nobody>"]},
        {"s": ["set alarm 7"]},
        {"s": ["Hello"]},
        {"s": ["hello, there"]},
        {"s": [["hello", 0]]},
        {"s": []},
    ],
)
def test_invalid_grammar_rejected(rules: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Grammar(rules, "s")
