"""The TTS space as decisions: every assignment decodes to a model of the space, encoding
inverts decoding on the space and projects outside it, and an Optuna sampler proposes
through it as it does for recognisers."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.space import TTSEncoding, TTSSpace
from speechnas.space.tts_encoding import block_label

SMALL = TTSSpace(
    widths=(64, 128),
    min_encoder_layers=1,
    max_encoder_layers=2,
    min_decoder_layers=1,
    max_decoder_layers=1,
    blocks=("transformer", "dsconv"),
    kernels=(5, 9),
    heads=(2,),
    ffn_expansions=(2.0,),
    duration_layers=(1,),
    pitch=(False, True),
    energy=(True,),
    text_units="char",
)


def test_decisions_name_what_varies_and_blocks_read_as_labels() -> None:
    enc = TTSEncoding(SMALL)
    names = [d.name for d in enc.decisions]
    assert names == ["width", "encoder_depth", "E0.block", "E1.block", "D0.block", "pitch"]
    assert enc.decision("E0.block").choices == ("tf2x2", "dsconv5x2", "dsconv9x2")
    assert block_label(TTSBlock("conv", kernel=3, heads=8, ffn_expansion=4.0)) == "conv3x4"


def test_decoding_inverts_encoding_on_every_model_of_a_small_space() -> None:
    enc = TTSEncoding(SMALL)
    models = list(SMALL.models())
    assert len(models) == SMALL.count()
    for spec in models:
        assert enc.decode(enc.encode(spec)).arch_id == spec.arch_id


def test_any_assignment_decodes_into_the_space() -> None:
    space = TTSSpace(text_units="char")
    enc = TTSEncoding(space)
    rng = np.random.default_rng(0)
    for _ in range(300):
        indices = {d.name: int(rng.integers(len(d.choices))) for d in enc.decisions}
        assert space.contains(enc.decode(indices))
    for _ in range(100):
        spec = space.sample(rng)
        assert enc.decode(enc.encode(spec)).arch_id == spec.arch_id


def test_a_model_outside_the_space_projects_to_its_nearest() -> None:
    enc = TTSEncoding(SMALL)
    outside = TTSSpec(
        width=100,
        encoder=(TTSBlock("dsconv", kernel=7), TTSBlock("conv", kernel=9)) * 2,
        decoder=(TTSBlock("transformer", heads=4),),
        duration_layers=1,
        text_units="char",
    )
    projected = enc.project(outside)
    assert SMALL.contains(projected) and projected.width == 128
    assert [block_label(b) for b in projected.encoder] == ["dsconv5x2", "tf2x2"]
    assert [block_label(b) for b in projected.decoder] == ["tf2x2"]
    inside = dataclasses.replace(projected)
    assert enc.project(inside) == inside


def test_an_optuna_sampler_proposes_models_of_the_space() -> None:
    enc = TTSEncoding(SMALL)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        params = {
            d.name: (
                trial.suggest_int(d.name, 0, len(d.choices) - 1)
                if d.ordered
                else d.choices.index(trial.suggest_categorical(d.name, d.choices))
            )
            for d in enc.decisions
        }
        spec = enc.decode(params)
        assert SMALL.contains(spec)
        seen.add(spec.arch_id)
        study.tell(trial, float(spec.width))
    assert len(seen) > 3
