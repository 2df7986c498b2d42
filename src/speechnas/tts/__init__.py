"""Text-to-speech architectures: a non-autoregressive acoustic model family as data.

:class:`TTSSpec` describes one FastSpeech-style acoustic model (text encoder, duration
predictor and length regulator, optional pitch and energy predictors, mel decoder) whose
encoder and decoder blocks are searched, LightSpeech-style: per block a Transformer layer or
a (depthwise-separable) convolution of a chosen kernel, with its feed-forward size.
:class:`TTSSpace` counts and samples them as :class:`~speechnas.space.SpeechSpace` does the
recognisers.
"""

from __future__ import annotations

from speechnas.tts.space import TTSSpace
from speechnas.tts.spec import TTS_BLOCKS, TTSBlock, TTSSpec

__all__ = ["TTS_BLOCKS", "TTSBlock", "TTSSpace", "TTSSpec"]
