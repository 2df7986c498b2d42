"""Search spaces of speech architectures (pure Python: importing this never imports torch):
recognisers (:class:`SpeechSpace`) and text-to-speech acoustic models (:class:`TTSSpace`)."""

from speechnas.space._encoding import Decision, SpaceEncoding
from speechnas.space._space import SpeechSpace
from speechnas.space.tts import TTSSpace
from speechnas.space.tts_encoding import TTSEncoding

__all__ = ["Decision", "SpaceEncoding", "SpeechSpace", "TTSEncoding", "TTSSpace"]
