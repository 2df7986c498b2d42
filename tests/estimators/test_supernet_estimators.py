"""Supernet estimators: the inherited score is the scorer's, a projected architecture is
scored as its nearest subnet, and the fine-tune starts from the inherited weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest
from speechnas.estimators import FineTunedInherited, InheritedScore
from speechnas.supernet import Supernet
from speechnas.supernet.scoring import ByDepth, SubnetScorer
from speechnas.testing.supernet import tiny_supernet_space
from speechnas.text import build_tokenizer, normalize
from speechnas.train import TrainConfig, load_checkpoint


@pytest.fixture
def scorer(tiny_corpus: dict[str, Path]) -> SubnetScorer:
    train = read_manifest(tiny_corpus["train"])
    dev = read_manifest(tiny_corpus["dev"])
    texts = [normalize(u.text, u.language) for u in [*train, *dev]]
    tokenizer = build_tokenizer("char", texts)
    net = Supernet(tiny_supernet_space(), tokenizer.vocab_size, seed=2).eval()
    return SubnetScorer(net, tokenizer, dev, batch_seconds=6.0)


def test_the_inherited_score_is_the_scorers(scorer: SubnetScorer) -> None:
    space = scorer.space
    rng = np.random.default_rng(0)
    for spec in (space.largest(), space.sample(rng)):
        for metric in ("cer", "wer"):
            est = InheritedScore(scorer, metric=metric, shared_cpu_seconds=7.0).estimate(spec)
            assert est.score == scorer(spec)[metric]
            assert est.cpu_seconds >= 7.0  # its share of the supernet's training


def test_an_architecture_outside_the_space_is_refused_or_projected(
    scorer: SubnetScorer,
) -> None:
    space = scorer.space
    # Another front-end and activation, a width and kernel the space lacks, one layer too many.
    layer = dataclasses.replace(
        space.base.layers[0], width=28, kernel=5, heads=4, ffn_expansion=4.0, activation="gelu"
    )
    outside = dataclasses.replace(space.base, frontend="mfcc", layers=(layer,) * 4)
    with pytest.raises(ValueError, match="not a subnet"):
        InheritedScore(scorer).estimate(outside)
    nearest = space.project(outside)
    assert space.contains(nearest)
    assert [tuple(x)[:4] for x in space.choices(nearest)] == [(32, 3, 4, 2.0)] * 3
    got = InheritedScore(scorer, project=True).estimate(outside)
    assert got.score == scorer(nearest)["cer"]
    sub = space.sample(np.random.default_rng(1))
    assert space.project(sub) == sub
    lstm = ArchSpec.uniform(num_layers=2, width=16, encoder="lstm", n_mels=40)
    with pytest.raises(ValueError, match="is a lstm"):
        InheritedScore(scorer, project=True).estimate(lstm)


def test_per_depth_supernets_route_each_depth(
    scorer: SubnetScorer, tiny_corpus: dict[str, Path]
) -> None:
    space = scorer.space
    dev = read_manifest(tiny_corpus["dev"])
    by_depth = ByDepth(
        space,
        {
            d: SubnetScorer(
                Supernet(space.at_depth(d), scorer.net.vocab_size, seed=d).eval(),
                scorer.tokenizer,
                dev,
                batch_seconds=6.0,
            )
            for d in (1, 2, 3)
        },
    )
    rng = np.random.default_rng(3)
    for spec in (space.sample(rng), space.sample(rng)):
        assert InheritedScore(by_depth).estimate(spec).score == by_depth(spec)["cer"]


def test_the_fine_tune_starts_from_the_inherited_weights(
    scorer: SubnetScorer, tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    config = TrainConfig(
        train_manifest=str(tiny_corpus["train"]),
        dev_manifest=str(tiny_corpus["dev"]),
        max_steps=3,
        max_epochs=5,
        batch_seconds=6.0,
        warmup_steps=1,
        seed=0,
        threads=1,
    )
    spec = scorer.space.largest()
    estimator = FineTunedInherited(scorer, config, tmp_path / "ft")
    est = estimator.estimate(spec)
    assert 0.0 <= est.score
    run = tmp_path / "ft" / spec.arch_id
    inherited = load_checkpoint(run / "inherited.pt")
    expected = scorer.model(spec).state_dict()
    assert inherited["model"].keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(inherited["model"][name], tensor), name
    assert FineTunedInherited(scorer, config, tmp_path / "again").estimate(spec).score == est.score
    # A fine-tune that cannot move the weights scores what the inherited weights score.
    still = dataclasses.replace(config, lr=1e-12, max_steps=1)
    unmoved = FineTunedInherited(scorer, still, tmp_path / "still").estimate(spec)
    assert unmoved.score == pytest.approx(InheritedScore(scorer).estimate(spec).score)
    assert unmoved.score != 1.0  # an untrained net emits characters: not two empty outputs
    with pytest.raises(ValueError, match="no dev_manifest"):
        FineTunedInherited(scorer, dataclasses.replace(config, dev_manifest=None), tmp_path)


def test_projection_breaks_ties_down_pads_depth_and_replaces_blocks() -> None:
    space = tiny_supernet_space(min_layers=2, blocks=("full", "conv"))
    base = space.base.layers[0]
    one = dataclasses.replace(
        space.base,
        layers=(
            dataclasses.replace(
                base, width=24, kernel=5, heads=2, ffn_expansion=1.5, block="attention"
            ),
        ),
    )
    nearest = space.project(one)
    # 24 is as far from 16 as from 32, 5 from 3 and 7, 1.5 from 1 and 2: the smaller wins;
    # the one layer is repeated up to the space's two; the attention-only block, not offered,
    # becomes "full".
    assert space.choices(nearest) == [(16, 3, 2, 1.0, "full")] * 2
