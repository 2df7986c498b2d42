"""SpaceEncoding: fixed decisions that always decode to architectures of the space."""

from __future__ import annotations

import numpy as np
import pytest
from tests.space.test_space import GLOBALS, LAYERS

from speechnas.presets import PRESETS
from speechnas.space import SpaceEncoding, SpeechSpace


@pytest.mark.parametrize("space", [LAYERS, GLOBALS], ids=["layers", "globals"])
def test_encode_then_decode_is_identity_on_the_space(space: SpeechSpace) -> None:
    enc = SpaceEncoding(space)
    for i in range(space.count()):
        spec = space.spec_at(i)
        assert enc.decode(enc.encode(spec)).arch_id == spec.arch_id, spec.summary()


def test_round_trip_on_default_space_samples() -> None:
    space = SpeechSpace(streaming="both")
    enc = SpaceEncoding(space)
    rng = np.random.default_rng(0)
    for _ in range(300):
        spec = space.sample(rng)
        assert enc.decode(enc.encode(spec)).arch_id == spec.arch_id, spec.summary()


@pytest.mark.parametrize("streaming", ["off", "on", "both"])
def test_any_indices_decode_into_the_space(streaming: str) -> None:
    space = SpeechSpace(streaming=streaming)  # type: ignore[arg-type]
    enc = SpaceEncoding(space)
    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(500):
        indices = {d.name: int(rng.integers(len(d.choices))) for d in enc.decisions}
        spec = enc.decode(indices)
        assert space.contains(spec), space.violations(spec)
        kinds.add((spec.encoder, spec.decoder.kind))
    assert len(kinds) >= 10  # every family with every head it may have


def test_singleton_choices_are_not_decisions() -> None:
    space = SpeechSpace(frontends=("logmel",), max_layers=3, min_layers=3)
    names = {d.name for d in SpaceEncoding(space).decisions}
    assert "frontend" not in names and "depth" not in names
    assert {"encoder", "L2.width", "L0.activation"} <= names
    assert "L3.width" not in names


def test_presets_project_into_a_smaller_space() -> None:
    space = SpeechSpace(widths=(64, 128), max_layers=4, decoders=("ctc",))
    enc = SpaceEncoding(space)
    for name, spec in PRESETS.items():
        projected = enc.project(spec)
        assert space.contains(projected), (name, space.violations(projected))
    default = SpeechSpace(streaming="both")
    default_enc = SpaceEncoding(default)
    for name, spec in PRESETS.items():
        if default.contains(spec):
            assert default_enc.project(spec).arch_id == spec.arch_id, name


def test_bad_indices_name_the_decision() -> None:
    enc = SpaceEncoding(SpeechSpace(max_layers=3))
    indices = {d.name: 0 for d in enc.decisions}
    with pytest.raises(ValueError, match="L1.width=99"):
        enc.decode({**indices, "L1.width": 99})
    del indices["encoder"]
    with pytest.raises(KeyError, match="encoder"):
        enc.decode(indices)
