"""Text-to-speech: the prepared corpus (text, mel, aligned durations, prosody) that the
acoustic models of :mod:`speechnas.models.tts` learn from."""

from speechnas.tts.corpus import TTS_FRONTEND, TTSCorpus, TTSUtterance, align_corpus, tts_text

__all__ = ["TTS_FRONTEND", "TTSCorpus", "TTSUtterance", "align_corpus", "tts_text"]
