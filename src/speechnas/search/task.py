"""A search's task (:attr:`~speechnas.search.config.SearchConfig.task`): recognisers or
text-to-speech models. The one place the loop picks between them: the encoding the strategies
propose through, and the evaluator the trials run in."""

from __future__ import annotations

from speechnas.search.config import SearchConfig
from speechnas.search.evaluation import TrialEvaluator
from speechnas.search.store import SearchStore
from speechnas.space import SpaceEncoding, TTSEncoding
from speechnas.space.kinds import Encoding

__all__ = ["encoding_for", "trial_evaluator"]


def encoding_for(config: SearchConfig) -> Encoding:
    """The encoding of ``config``'s space (its TTS space for a TTS search)."""
    if config.tts is not None:
        return TTSEncoding(config.tts.space)
    return SpaceEncoding(config.space)


def trial_evaluator(config: SearchConfig, store: SearchStore) -> TrialEvaluator:
    """The evaluator of ``config``'s trials (checks its data before anything runs).

    Raises:
        UserError: the data (manifests, or a TTS corpus) cannot be used.
    """
    if config.tts is not None:
        from speechnas.search.tts_trial import TTSTrialEvaluator

        return TTSTrialEvaluator(config, store)
    return TrialEvaluator(config, store)
