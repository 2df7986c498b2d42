from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np
import pytest
from scipy.stats import chisquare

from speechnas.arch import ArchSpec, DecoderSpec, LayerSpec, StreamingSpec
from speechnas.space import SpeechSpace

# Small spaces in which brute force is affordable; each exercises different constraints.
LAYERS = SpeechSpace(
    frontends=("logmel",),
    n_mels=(40,),
    subsamplings=("conv2d",),
    subsampling_factors=(2, 4),
    encoders=("conformer", "lstm"),
    attentions=("rel",),
    attention_windows=(16,),
    predictors=("lstm",),
    decoder_dims=(16,),
    decoder_layers=(1,),
    widths=(8, 12),
    heads=(4, 8),  # 8 does not divide 12
    kernels=(3, 5),
    ffn_expansions=(2.0,),
    activations=("relu",),
    norms=("layernorm",),
    decoders=("ctc",),
    min_layers=1,
    max_layers=3,
)
GLOBALS = SpeechSpace(
    frontends=("logmel", "mfcc"),
    n_mels=(40,),
    subsamplings=("conv1d",),
    subsampling_factors=(4,),
    encoders=("transformer", "blstm", "cnn"),
    attentions=("abs", "local", "linear"),  # linear is barred from streaming
    attention_windows=(4, 8),
    widths=(8,),
    heads=(4,),
    kernels=(3,),
    ffn_expansions=(2.0,),
    activations=("relu",),
    norms=("batchnorm",),
    decoders=("ctc", "rnnt", "aed_lstm", "aed_transformer"),
    predictors=("lstm", "stateless"),
    decoder_dims=(16, 32),
    decoder_layers=(1, 2),
    decoder_heads=(4, 32),  # 32 does not divide 16
    streaming="both",  # blstm and attention decoders are barred from streaming
    chunks=(2, 4),
    left_contexts=(4,),
    lookaheads=(0, 1),
    min_layers=1,
    max_layers=2,
)


def _raw_specs(space: SpeechSpace) -> itertools.product[Any]:
    """Every assignment of every field over the space's choices, inactive fields included."""
    layer_raw = [
        LayerSpec(width=w, kernel=k, heads=h, ffn_expansion=f, activation=a, norm=n, skip=False)
        for w, k, h, f, a, n in itertools.product(
            space.widths,
            space.kernels,
            space.heads,
            space.ffn_expansions,
            space.activations,
            space.norms,
        )
    ] + [LayerSpec(skip=True)]
    streams: list[StreamingSpec | None] = [None] + [
        StreamingSpec(chunk=c, left_context=lc, lookahead=la)
        for c, lc, la in itertools.product(space.chunks, space.left_contexts, space.lookaheads)
    ]
    decoders = list(
        itertools.product(
            space.decoders,
            space.predictors,
            space.decoder_dims,
            space.decoder_layers,
            space.decoder_heads,
        )
    )
    return itertools.product(
        space.frontends,
        space.n_mels,
        space.subsamplings,
        space.subsampling_factors,
        range(space.max_layers),
        space.encoders,
        space.attentions,
        space.attention_windows,
        itertools.product(layer_raw, repeat=space.max_layers),
        streams,
        decoders,
    )


def _brute_force_ids(space: SpeechSpace) -> set[str]:
    ids = set()
    for fe, nm, sub, factor, trl, enc, att, win, layers, stream, dec in _raw_specs(space):
        kind, pred, dim, nl, heads = dec
        try:
            spec = ArchSpec(
                frontend=fe,
                n_mels=nm,
                subsampling=sub,
                subsampling_factor=factor,
                subsampling_channels=space.subsampling_channels,
                time_reduction_layer=trl,
                encoder=enc,
                attention=att,
                attention_window=win,
                layers=layers,
                streaming=stream,
                decoder=DecoderSpec(
                    kind=kind,
                    predictor=pred,
                    dim=dim,
                    num_layers=nl,
                    heads=heads,
                    ctc_weight=space.ctc_weight,
                ),
                dropout=space.dropout,
            )
        except ValueError:
            continue
        if space.contains(spec):
            ids.add(spec.arch_id)
    return ids


@pytest.mark.parametrize("space", [LAYERS, GLOBALS], ids=["layers", "globals"])
def test_dp_count_equals_brute_force(space: SpeechSpace) -> None:
    ids = _brute_force_ids(space)
    assert len(ids) > 20
    assert space.count() == len(ids)


@pytest.mark.parametrize("space", [LAYERS, GLOBALS], ids=["layers", "globals"])
def test_spec_at_numbers_every_architecture_once(space: SpeechSpace) -> None:
    specs = [space.spec_at(i) for i in range(space.count())]
    assert all(space.contains(s) for s in specs)
    assert {s.arch_id for s in specs} == _brute_force_ids(space)  # a bijection onto the space
    with pytest.raises(IndexError, match="outside"):
        space.spec_at(space.count())


def test_samples_are_in_space_and_uniform() -> None:
    space = SpeechSpace(**{**LAYERS.to_dict(), "max_layers": 2, "widths": (8, 12)})
    n = space.count()
    assert 20 <= n <= 200
    rng = np.random.default_rng(0)
    draws = 60 * n
    counts: dict[str, int] = {}
    for _ in range(draws):
        spec = space.sample(rng)
        assert space.contains(spec), space.violations(spec)
        counts[spec.arch_id] = counts.get(spec.arch_id, 0) + 1
    assert len(counts) == n  # every architecture is reachable
    observed = np.array(list(counts.values()))
    stat, p = chisquare(observed)  # against equal expected frequencies
    assert p > 1e-3, (stat, p)


def test_sampling_is_seeded() -> None:
    space = SpeechSpace()
    a = [space.sample(np.random.default_rng(7)).arch_id for _ in range(3)]
    b = [space.sample(np.random.default_rng(7)).arch_id for _ in range(3)]
    assert a == b
    c = [s.arch_id for s in (space.sample(np.random.default_rng(s)) for s in range(5))]
    assert len(set(c)) == 5


def test_default_space_counts_and_samples_every_family() -> None:
    space = SpeechSpace(streaming="both")
    blocks = space.count_by_block()
    assert ("blstm", True) not in blocks
    assert {enc for enc, _ in blocks} == {
        "conformer",
        "transformer",
        "lstm",
        "blstm",
        "cnn_lstm",
        "cnn",
    }
    assert space.count() == sum(blocks.values()) > 10**40
    rng = np.random.default_rng(1)
    for _ in range(50):
        spec = space.sample(rng)
        assert space.contains(spec)
        if spec.streaming is not None:
            assert spec.decoder.kind in ("ctc", "rnnt")
            assert spec.attention != "linear" or not spec.uses_attention


def test_violations_name_the_problem() -> None:
    space = SpeechSpace(widths=(64,), max_layers=4)
    spec = ArchSpec.uniform(num_layers=6, width=96, heads=4)
    problems = " ".join(space.violations(spec))
    assert "6 kept layers" in problems


def test_space_rejects_bad_choices() -> None:
    with pytest.raises(ValueError, match="encoders"):
        SpeechSpace(encoders=("mamba",))
    with pytest.raises(ValueError, match="min_layers"):
        SpeechSpace(min_layers=3, max_layers=2)
    with pytest.raises(ValueError, match="kernel"):
        SpeechSpace(kernels=(4,))
    with pytest.raises(ValueError, match="no valid architecture"):
        SpeechSpace(encoders=("blstm",), streaming="on")


def test_space_module_does_not_import_torch() -> None:
    import subprocess

    code = "import sys, speechnas.space, speechnas.arch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
