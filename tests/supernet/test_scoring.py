"""SubnetScorer: cached features give the same scores as evaluating the extracted subnet."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from speechnas.data.dataset import SpeechDataset
from speechnas.evaluate.runner import evaluate_model
from speechnas.supernet import Supernet
from speechnas.supernet.scoring import ByDepth, SubnetScorer
from speechnas.supernet.supernet import recalibrate
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.testing.supernet import tiny_supernet_space
from speechnas.text import build_tokenizer, normalize


@pytest.mark.parametrize(("norm", "stem"), [("layernorm", "conv2d"), ("batchnorm", "conv1d")])
def test_scores_equal_evaluating_the_extracted_subnet(
    tmp_path: Path, norm: str, stem: str
) -> None:
    utts = make_corpus(tmp_path / "audio", n=6, seed=3)
    tokenizer = build_tokenizer("char", [normalize(u.text, u.language) for u in utts])
    base = tiny_supernet_space().base
    layers = tuple(dataclasses.replace(x, norm=norm) for x in base.layers)
    space = tiny_supernet_space(base=dataclasses.replace(base, layers=layers, subsampling=stem))
    net = Supernet(space, tokenizer.vocab_size, seed=1).eval()
    scorer_calibration = []
    if norm == "batchnorm":
        batch = SpeechDataset(utts[:3], tokenizer).batch([0, 1, 2])
        assert batch is not None
        scorer_calibration = [(batch.wave, batch.wave_lens)]
    scorer = SubnetScorer(net, tokenizer, utts, calibration=scorer_calibration, batch_seconds=3.0)
    assert scorer.utterances == len(utts)
    rng = np.random.default_rng(0)
    for spec in [space.largest(), space.smallest(), space.sample(rng), space.sample(rng)]:
        model = net.extract(spec)
        recalibrate(model, scorer_calibration)
        expected = evaluate_model(model, tokenizer, utts, rtf_utterances=0)
        got = scorer(spec)
        assert got["wer"] == pytest.approx(expected.wer, abs=1e-12), spec.summary()
        assert got["cer"] == pytest.approx(expected.cer, abs=1e-12), spec.summary()
    # An untrained net emits characters: the comparison is not of two empty outputs.
    assert scorer(space.largest())["cer"] != 1.0


def test_a_spec_outside_the_space_is_refused(tmp_path: Path) -> None:
    utts = make_corpus(tmp_path / "audio", n=2, seed=0)
    tokenizer = build_tokenizer("char", [normalize(u.text, u.language) for u in utts])
    space = tiny_supernet_space()
    scorer = SubnetScorer(Supernet(space, tokenizer.vocab_size), tokenizer, utts)
    with pytest.raises(ValueError, match="not a subnet"):
        scorer(tiny_supernet_space(widths=(48,), heads=(2,)).largest())


def test_by_depth_scores_each_subnet_on_its_depths_supernet(tmp_path: Path) -> None:
    utts = make_corpus(tmp_path / "audio", n=3, seed=0)
    tokenizer = build_tokenizer("char", [normalize(u.text, u.language) for u in utts])
    space = tiny_supernet_space()  # 1-3 layers
    scorers = {
        d: SubnetScorer(Supernet(space.at_depth(d), tokenizer.vocab_size, seed=d), tokenizer, utts)
        for d in (1, 2, 3)
    }
    by_depth = ByDepth(space, scorers)
    assert by_depth.utterances == 3
    rng = np.random.default_rng(0)
    drawn = [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(4)]
    for spec in drawn:
        layers = space.choices(spec)
        scorer = scorers[len(layers)]
        assert by_depth(spec) == scorer(scorer.net.space.spec(layers)), spec.summary()
    with pytest.raises(ValueError, match="not a subnet"):
        by_depth(tiny_supernet_space(widths=(48,), heads=(2,)).largest())
    with pytest.raises(ValueError, match="no supernet of depth 2"):
        ByDepth(space, {1: scorers[1], 3: scorers[3]})
    with pytest.raises(ValueError, match="no supernet of depth 1"):
        ByDepth(space, {1: scorers[2], 2: scorers[2], 3: scorers[3]})
    with pytest.raises(ValueError, match="depth 4"):
        space.at_depth(4)
