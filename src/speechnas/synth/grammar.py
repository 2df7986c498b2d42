"""A small weighted context-free grammar of voice-assistant commands.

The grammar is data (``grammar.json``, shipped with the package). Each rule maps a name to a list
of alternatives; an alternative is a string, or ``[string, weight]``. Inside a string, ``<name>``
expands another rule and every other token is a terminal word. A rule may instead be a number
range, ``{"range": [lo, hi], "style": "cardinal" | "ordinal"}``, which expands to the number
spelled out in words (see :mod:`speechnas.synth._numbers`).

Every terminal must be a lower-case word of letters and apostrophes, and no expansion may
produce digits or punctuation: the sentence is given to the TTS engine verbatim and also used
as the transcript, so the two cannot disagree (a TTS engine reading "7:30" would say words the
transcript does not contain).

Example:
    >>> import numpy as np
    >>> sentences = generate_sentences(3, np.random.default_rng(0))
    >>> len(sentences)
    3
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from speechnas.synth._numbers import cardinal, ordinal

if TYPE_CHECKING:
    import os

__all__ = ["Grammar", "generate_sentences", "load_grammar"]

_NONTERMINAL_PREFIX = re.compile(r"^<([a-z_]+)>('s)?$")
_TERMINAL = re.compile(r"^[a-z]+(?:'[a-z]*)?$|^[a-z]+s'$")
_MAX_DEPTH = 16


@dataclass(frozen=True)
class _Choice:
    """Weighted alternatives; each alternative is a tuple of tokens."""

    alternatives: tuple[tuple[str, ...], ...]
    cum_weights: tuple[float, ...]


@dataclass(frozen=True)
class _Range:
    lo: int
    hi: int
    style: str


def _parse_rule(name: str, spec: Any) -> _Choice | _Range:
    if isinstance(spec, dict):
        lo, hi = spec["range"]
        style = spec.get("style", "cardinal")
        if style not in ("cardinal", "ordinal") or not 0 <= lo <= hi:
            raise ValueError(f"grammar rule {name!r}: bad range spec {spec!r}")
        if style == "ordinal" and lo < 1:
            raise ValueError(f"grammar rule {name!r}: ordinals start at 1")
        return _Range(int(lo), int(hi), style)
    if not isinstance(spec, list) or not spec:
        raise ValueError(f"grammar rule {name!r} must be a non-empty list or a range")
    alternatives: list[tuple[str, ...]] = []
    weights: list[float] = []
    for alt in spec:
        text, weight = (alt, 1.0) if isinstance(alt, str) else (alt[0], float(alt[1]))
        if weight <= 0:
            raise ValueError(f"grammar rule {name!r}: weight must be > 0, got {weight}")
        alternatives.append(tuple(text.split()))
        weights.append(weight)
    return _Choice(tuple(alternatives), tuple(np.cumsum(weights).tolist()))


class Grammar:
    """A validated grammar that samples sentences with a caller-supplied generator.

    Args:
        rules: Rule name -> alternatives or range spec (the ``"rules"`` object of the JSON).
        start: Name of the start rule.

    Raises:
        ValueError: a rule references an undefined rule, a terminal is not a lower-case word,
            or a weight/range is invalid.
    """

    def __init__(self, rules: Mapping[str, Any], start: str) -> None:
        self._rules = {name: _parse_rule(name, spec) for name, spec in rules.items()}
        if start not in self._rules:
            raise ValueError(f"start rule {start!r} is not defined")
        self.start = start
        self._validate()

    def _validate(self) -> None:
        for name, rule in self._rules.items():
            if isinstance(rule, _Range):
                continue
            for alt in rule.alternatives:
                for token in alt:
                    ref = _NONTERMINAL_PREFIX.match(token)
                    if ref:
                        if ref.group(1) not in self._rules:
                            raise ValueError(f"rule {name!r} references undefined <{ref[1]}>")
                    elif not _TERMINAL.match(token):
                        raise ValueError(f"rule {name!r}: {token!r} is not a lower-case word")

    @property
    def rule_names(self) -> list[str]:
        return sorted(self._rules)

    def sample(self, rng: np.random.Generator) -> str:
        """Draw one sentence: lower-case words separated by single spaces."""
        words: list[str] = []
        self._expand(self.start, rng, words, 0)
        return " ".join(words)

    def _expand(self, name: str, rng: np.random.Generator, out: list[str], depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ValueError(f"grammar recursion deeper than {_MAX_DEPTH} at <{name}>")
        rule = self._rules[name]
        if isinstance(rule, _Range):
            n = int(rng.integers(rule.lo, rule.hi + 1))
            out.extend((ordinal(n) if rule.style == "ordinal" else cardinal(n)).split())
            return
        pick = rng.random() * rule.cum_weights[-1]
        index = int(np.searchsorted(rule.cum_weights, pick, side="right"))
        for token in rule.alternatives[min(index, len(rule.alternatives) - 1)]:
            ref = _NONTERMINAL_PREFIX.match(token)
            if ref is None:
                out.append(token)
                continue
            self._expand(ref.group(1), rng, out, depth + 1)
            if ref.group(2):  # "<contact>'s": possessive of the last word expanded
                out[-1] += "'s"


def load_grammar(path: str | os.PathLike[str] | None = None) -> Grammar:
    """Load a grammar JSON file; ``None`` loads the shipped voice-assistant grammar."""
    if path is None:
        return _shipped_grammar()
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return Grammar(data["rules"], data["start"])


@functools.cache
def _shipped_grammar() -> Grammar:
    # NOTE: cached because Grammar is immutable after construction and parsing costs ~ms.
    text = resources.files("speechnas.synth").joinpath("grammar.json").read_text("utf-8")
    data = json.loads(text)
    return Grammar(data["rules"], data["start"])


def generate_sentences(
    n: int, rng: np.random.Generator, grammar: Grammar | None = None
) -> list[str]:
    """Sample ``n`` sentences (duplicates possible) from ``grammar``.

    Args:
        n: Number of sentences, ``>= 0``.
        rng: The only source of randomness; the same generator state gives the same sentences.
        grammar: Defaults to the shipped voice-assistant grammar.

    Returns:
        ``n`` strings of lower-case words, no digits, no punctuation except apostrophes.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    g = grammar if grammar is not None else load_grammar()
    return [g.sample(rng) for _ in range(n)]
