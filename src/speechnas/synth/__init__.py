"""Synthetic multi-voice speech: a command grammar, offline TTS engines, augmentation.

``synthesize_corpus`` (also ``speechnas data synth``) renders grammar sentences with every
installed offline TTS engine (espeak-ng, flite, festival), augments them, and writes a
speaker-disjoint train/dev/test corpus of 16 kHz FLAC files with canonical manifests.
``speak_transcripts`` (also ``speechnas data speak``) has espeak-ng read a corpus's own
transcripts in their languages, for languages with little recorded speech.
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
from speechnas.synth.spoken import SpokenResult, speak_transcripts

__all__ = [
    "ENGINES",
    "EspeakEngine",
    "FestivalEngine",
    "FliteEngine",
    "Grammar",
    "SpokenResult",
    "SynthResult",
    "TTSEngine",
    "TTSError",
    "generate_sentences",
    "get_engine",
    "load_grammar",
    "speak_transcripts",
    "synthesize_corpus",
]
