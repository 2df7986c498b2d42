"""Sampling the architectures a latency table is profiled on."""

from __future__ import annotations

from speechnas.hardware.tables import sample_specs
from speechnas.space import SpeechSpace


def test_stratified_samples_cover_every_family_and_depth() -> None:
    space = SpeechSpace(decoders=("ctc",), max_layers=4)
    uniform = sample_specs(space, 60, seed=0)
    stratified = sample_specs(space, 60, seed=0, stratified=True)
    assert len({s.arch_id for s in stratified}) == 60  # distinct
    families = {s.encoder for s in stratified}
    depths = {len(s.kept_layers) for s in stratified}
    assert families == set(space.encoders) and depths == {2, 3, 4}
    # Uniform draws over distinct architectures follow the biggest family and depth.
    top = max(space.encoders, key=lambda f: sum(s.encoder == f for s in uniform))
    assert sum(s.encoder == top for s in uniform) > 2 * sum(s.encoder == top for s in stratified)
    assert sample_specs(space, 10, seed=3, stratified=True) == sample_specs(
        space, 10, seed=3, stratified=True
    )
