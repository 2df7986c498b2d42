"""Text-to-speech: the prepared corpus (text, mel, aligned durations, prosody) that the
acoustic models of :mod:`speechnas.models.tts` learn from."""

from speechnas.tts.corpus import (
    TTS_FRONTEND,
    TTSCorpus,
    TTSUtterance,
    align_corpus,
    normalised_variance,
    tts_text,
    variance_stats,
)

__all__ = [
    "TTS_FRONTEND",
    "TTSCorpus",
    "TTSUtterance",
    "align_corpus",
    "normalised_variance",
    "tts_text",
    "variance_stats",
]
