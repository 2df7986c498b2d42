"""Search spaces of speech architectures (pure Python: importing this never imports torch)."""

from speechnas.space._encoding import Decision, SpaceEncoding
from speechnas.space._space import SpeechSpace

__all__ = ["Decision", "SpaceEncoding", "SpeechSpace"]
