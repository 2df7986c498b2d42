"""Synthetic multi-voice English speech: a command grammar, offline TTS engines, augmentation.

``synthesize_corpus`` (also ``speechnas data synth``) renders grammar sentences with every
installed offline TTS engine (espeak-ng, flite, festival), augments them, and writes a
speaker-disjoint train/dev/test corpus of 16 kHz FLAC files with canonical manifests.
"""

from __future__ import annotations

from speechnas.synth.corpus import SynthResult, synthesize_corpus
from speechnas.synth.engines import (
    ENGINES,
    EspeakEngine,
    FestivalEngine,
    FliteEngine,
    TTSEngine,
    TTSError,
    get_engine,
)
from speechnas.synth.grammar import Grammar, generate_sentences, load_grammar

__all__ = [
    "ENGINES",
    "EspeakEngine",
    "FestivalEngine",
    "FliteEngine",
    "Grammar",
    "SynthResult",
    "TTSEngine",
    "TTSError",
    "generate_sentences",
    "get_engine",
    "load_grammar",
    "synthesize_corpus",
]
