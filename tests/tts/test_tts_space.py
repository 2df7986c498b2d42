"""The TTS space: counted exactly (against enumeration), sampled uniformly, specs as data."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.space import TTSSpace

SMALL = TTSSpace(
    widths=(64, 96),
    min_encoder_layers=1,
    max_encoder_layers=2,
    min_decoder_layers=1,
    max_decoder_layers=1,
    kernels=(3, 5),
    heads=(2,),
    ffn_expansions=(2.0,),
    duration_layers=(1, 2),
    pitch=(False, True),
    energy=(True,),
)


def test_the_count_is_the_number_of_distinct_models() -> None:
    # Blocks: transformer (1 head choice x 1 FFN) + conv and dsconv (2 kernels x 1 FFN) = 5.
    assert len(SMALL.block_choices()) == 5
    assert SMALL.count() == 2 * (5 + 25) * 5 * 2 * 2 * 1
    models = list(SMALL.models())
    assert len(models) == SMALL.count()
    assert len({m.arch_id for m in models}) == SMALL.count()  # distinct models, distinct ids
    assert all(SMALL.contains(m) for m in models)
    assert TTSSpace().count() > 10**8


def test_sampling_is_seeded_inside_the_space_and_uniform_over_depths() -> None:
    rng = np.random.default_rng(0)
    drawn = [SMALL.sample(rng) for _ in range(3000)]
    assert all(SMALL.contains(s) for s in drawn)
    again = np.random.default_rng(0)
    assert [SMALL.sample(again) for _ in range(5)] == drawn[:5]
    # 5 one-block and 25 two-block encoders: 5 of 6 draws have two blocks.
    depths = collections.Counter(len(s.encoder) for s in drawn)
    assert depths[2] / len(drawn) == pytest.approx(25 / 30, abs=0.03)


def test_specs_are_data_and_ids_ignore_unused_fields() -> None:
    spec = TTSSpec(
        width=96,
        encoder=(TTSBlock("dsconv", kernel=5), TTSBlock("transformer", heads=4)),
        decoder=(TTSBlock("conv", kernel=9, ffn_expansion=2.0),),
        pitch=False,
    )
    assert TTSSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    # A convolution's heads and a Transformer's kernel are not part of the model.
    other = TTSSpec(
        width=96,
        encoder=(
            TTSBlock("dsconv", kernel=5, heads=8),
            TTSBlock("transformer", kernel=3, heads=4),
        ),
        decoder=(TTSBlock("conv", kernel=9, ffn_expansion=2.0),),
        pitch=False,
    )
    assert other != spec and other.arch_id == spec.arch_id
    assert "enc dsconv5/tf4" in spec.summary() and "energy" in spec.summary()
    with pytest.raises(ValueError, match="unknown key"):
        TTSSpec.from_dict({**spec.to_dict(), "vocoder": "hifigan"})
    with pytest.raises(ValueError, match=r"encoder\[0\].heads=3 does not divide width=64"):
        TTSSpec(width=64, encoder=(TTSBlock(heads=3),))
    with pytest.raises(ValueError, match="kernel=4"):
        TTSBlock("conv", kernel=4)
    with pytest.raises(ValueError, match="heads must divide every width"):
        TTSSpace(widths=(96,), heads=(5,))


def test_spec_at_indexes_the_models_in_their_enumerated_order() -> None:
    space = TTSSpace(
        widths=(64, 96),
        min_encoder_layers=1,
        max_encoder_layers=2,
        min_decoder_layers=1,
        max_decoder_layers=2,
        blocks=("conv", "transformer"),
        kernels=(3, 5),
        heads=(2,),
        ffn_expansions=(2.0,),
        duration_layers=(1,),
        energy=(True,),
    )
    models = list(space.models())
    assert len(models) == space.count()
    assert [space.spec_at(i) for i in range(space.count())] == models
    with pytest.raises(IndexError):
        space.spec_at(space.count())
