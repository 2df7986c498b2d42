"""Per-layer Conformer blocks (attention and convolution, attention only, convolution only)
in specs, ids, spaces and their encoding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from speechnas.arch import ArchSpec, LayerSpec
from speechnas.models import build_model
from speechnas.presets import preset
from speechnas.space import SpaceEncoding, SpeechSpace

SPACE = SpeechSpace(
    frontends=("logmel",),
    n_mels=(40,),
    subsamplings=("conv2d",),
    subsampling_factors=(4,),
    time_reduction=False,
    encoders=("conformer",),
    attentions=("rel",),
    min_layers=1,
    max_layers=2,
    widths=(16, 32),
    kernels=(3, 5),
    heads=(2, 4),
    ffn_expansions=(2.0,),
    activations=("swish",),
    norms=("layernorm",),
    blocks=("full", "attention", "conv"),
    decoders=("ctc",),
)


def test_ids_without_blocks_are_those_of_before() -> None:
    # Recorded in benchmarks/results/presets_speechocean762.json before blocks existed.
    assert preset("conformer-ctc-s").arch_id == "991d273adc4f933c"


def test_a_block_drops_the_fields_it_does_not_use_from_the_id() -> None:
    spec = ArchSpec.uniform(num_layers=2, width=32, heads=4, kernel=5)
    conv = spec.with_layer(0, block="conv")
    assert conv.arch_id != spec.arch_id
    assert conv.with_layer(0, heads=2).arch_id == conv.arch_id  # heads unused
    attention = spec.with_layer(0, block="attention")
    assert attention.with_layer(0, kernel=3).arch_id == attention.arch_id  # kernel unused
    with pytest.raises(ValueError, match="block"):
        LayerSpec(block="mamba")


def test_blocks_build_the_modules_they_name() -> None:
    spec = ArchSpec.uniform(num_layers=3, width=32, heads=4, kernel=5, n_mels=40)
    spec = spec.with_layer(1, block="attention").with_layer(2, block="conv")
    model = build_model(spec, vocab_size=10)
    full, attention, conv = model.encoder.kept_layers
    assert full.attn is not None and full.conv is not None  # type: ignore[union-attr]
    assert attention.conv is None and attention.attn is not None  # type: ignore[union-attr]
    assert conv.attn is None and conv.conv is not None  # type: ignore[union-attr]
    assert full.macs(100) > attention.macs(100) and full.macs(100) > conv.macs(100)


def test_the_space_counts_each_distinct_layer_once() -> None:
    # Per width: full 2 kernels x 2 heads, attention 2 heads, conv 2 kernels -> 8 layers.
    one_layer = 2 * 8
    assert SPACE.count() == one_layer + one_layer**2
    rng = np.random.default_rng(0)
    encoding = SpaceEncoding(SPACE)
    assert any(d.name == "L0.block" for d in encoding.decisions)
    seen = set()
    for _ in range(300):
        spec = SPACE.sample(rng)
        assert SPACE.contains(spec)
        assert encoding.decode(encoding.encode(spec)).arch_id == spec.arch_id
        seen.update(layer.block for layer in spec.kept_layers)
    assert seen == {"full", "attention", "conv"}


def test_a_space_without_block_choices_encodes_as_before() -> None:
    plain = dataclasses.replace(SPACE, blocks=("full",))
    assert not any(d.name.endswith(".block") for d in SpaceEncoding(plain).decisions)
    outside = ArchSpec.uniform(num_layers=1, width=16, heads=2, kernel=3, n_mels=40)
    assert not plain.contains(outside.with_layer(0, block="conv"))
