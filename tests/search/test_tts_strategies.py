"""Every sampler strategy proposes text-to-speech models through the same interface."""

from __future__ import annotations

import optuna
import pytest

from speechnas.arch.kinds import as_tts
from speechnas.arch.tts import TTSSpec
from speechnas.search.strategies import STRATEGIES, WEIGHT_SHARING, StrategyContext, make_sampler
from speechnas.search.strategies._base import suggest_spec
from speechnas.space import TTSEncoding, TTSSpace

SPACE = TTSSpace(
    widths=(64, 96),
    max_encoder_layers=3,
    max_decoder_layers=2,
    blocks=("transformer", "dsconv"),
    kernels=(3, 5),
    heads=(2,),
    ffn_expansions=(2.0,),
)

TTS_STRATEGIES = sorted(set(STRATEGIES) - {"transfer", *WEIGHT_SHARING})


def _cost(spec: TTSSpec) -> float:
    """A made-up score to learn from: width times depth, attention dearer than convolution."""
    blocks = (*spec.encoder, *spec.decoder)
    return spec.width * sum(2.0 if b.kind == "transformer" else 1.0 for b in blocks)


def _ids(strategy: str, seed: int) -> list[str]:
    options = {"n_startup_trials": 3} if strategy in ("tpe", "gp") else {}
    options = {"population": 4} if strategy == "nsga2" else options
    context = StrategyContext(encoding=TTSEncoding(SPACE), seed=seed, options=options)
    study = optuna.create_study(sampler=make_sampler(strategy, context))
    ids = []
    for _ in range(6):
        trial = study.ask()
        spec = as_tts(suggest_spec(trial, context.encoding))
        assert SPACE.contains(spec)
        ids.append(spec.arch_id)
        study.tell(trial, _cost(spec))
    return ids


@pytest.mark.parametrize("strategy", TTS_STRATEGIES)
def test_a_strategy_proposes_tts_models_of_the_space_reproducibly(strategy: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    first = _ids(strategy, seed=3)
    assert first == _ids(strategy, seed=3)
    if strategy == "grid":
        assert len(set(first)) == len(first)  # a grid never repeats itself


def test_transfer_refuses_a_tts_space() -> None:
    context = StrategyContext(encoding=TTSEncoding(SPACE))
    with pytest.raises(ValueError, match="recogniser presets"):
        make_sampler("transfer", context)
