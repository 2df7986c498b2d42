"""Training a supernet on audio, saving and loading it, and scoring inherited subnets."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from speechnas.data.manifest import write_manifest
from speechnas.errors import UserError
from speechnas.models import build_model
from speechnas.supernet.train import (
    SupernetTrainConfig,
    inherited_scores,
    load_supernet,
    train_supernet,
)
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.testing.planted import plant_pickle
from speechnas.testing.supernet import tiny_supernet_space as _space
from speechnas.text import build_tokenizer
from speechnas.train import TrainSettings
from speechnas.train.checkpoint import save_checkpoint


def test_train_save_load_and_score(tmp_path: Path) -> None:
    utts = make_corpus(tmp_path / "audio", n=8, seed=0)
    manifest = write_manifest(utts, tmp_path / "train.jsonl")
    config = SupernetTrainConfig(
        train_manifest=str(manifest),
        space=_space(),
        out_dir=str(tmp_path / "net"),
        settings=TrainSettings(batch_seconds=8.0, warmup_steps=2, speed_perturb=(1.0,)),
        max_steps=6,
        random_subnets=1,
    )
    path = train_supernet(config)
    net, tokenizer, saved = load_supernet(path)
    assert saved["steps"] == 6 and len(saved["history"]) == 6
    assert {"largest", "smallest", "random0"} <= set(saved["history"][0])
    # The loaded weights are the trained ones, not a fresh initialisation.
    fresh = torch.load(path, weights_only=True)["weights"]  # plain data only
    for name, t in net.state_dict().items():
        assert torch.equal(t, fresh[name]), name
    specs = [net.space.largest(), net.space.smallest(), net.space.sample(np.random.default_rng(1))]
    scores = inherited_scores(net, tokenizer, specs, utts[:3])
    assert len(scores) == 3 and all(s["wer"] >= 0 and s["cer"] >= 0 for s in scores)


def test_a_budget_is_required_and_bad_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_steps or max_minutes"):
        SupernetTrainConfig(train_manifest="x.jsonl", space=_space())
    bad = tmp_path / "bad.pt"
    torch.save({"weights": {}}, bad)
    with pytest.raises(UserError, match="not a supernet"):
        load_supernet(bad)


def test_planted_pickles_in_a_supernet_run_folder_never_run(tmp_path: Path) -> None:
    """A pickle put in place of ``supernet.pt`` or ``supernet.partial.pt`` is refused with
    an error naming it, and nothing in it runs (neither when loading the supernet nor when
    a training resumes)."""
    out = tmp_path / "net"
    out.mkdir()
    marker = plant_pickle(out / "supernet.pt")
    with pytest.raises(UserError) as refused:
        load_supernet(out / "supernet.pt")
    assert not marker.exists(), "the planted pickle ran"
    assert re.search(r"supernet\.pt: not a supernet: .*move it away", str(refused.value))

    utts = make_corpus(tmp_path / "audio", n=2, seed=0)
    config = SupernetTrainConfig(
        train_manifest=str(write_manifest(utts, tmp_path / "train.jsonl")),
        space=_space(),
        out_dir=str(out),
        max_steps=1,
    )
    marker = plant_pickle(out / "supernet.partial.pt")
    with pytest.raises(UserError) as refused:
        train_supernet(config)
    assert not marker.exists(), "the planted pickle ran"
    assert re.search(
        r"supernet\.partial\.pt: not a partial run: .*move it away", str(refused.value)
    )


def test_a_killed_training_resumes_as_if_it_had_not_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechnas.supernet import Supernet

    utts = make_corpus(tmp_path / "audio", n=8, seed=0)
    manifest = write_manifest(utts, tmp_path / "train.jsonl")

    def config(out: str) -> SupernetTrainConfig:
        return SupernetTrainConfig(
            train_manifest=str(manifest),
            space=_space(),
            out_dir=str(tmp_path / out),
            settings=TrainSettings(batch_seconds=4.0, warmup_steps=2, speed_perturb=(0.9, 1.1)),
            max_steps=7,
            random_subnets=1,
            checkpoint_minutes=0.0,
        )

    whole, _, saved = load_supernet(train_supernet(config("whole")))
    assert saved["steps"] == 7

    calls = {"n": 0}
    step = Supernet.sandwich_step

    def dies_at_the_fifth(self: Supernet, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Supernet, "sandwich_step", dies_at_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        train_supernet(config("parts"))
    assert (tmp_path / "parts" / "supernet.partial.pt").is_file()
    monkeypatch.setattr(Supernet, "sandwich_step", step)
    resumed, _, saved = load_supernet(train_supernet(config("parts")))
    assert saved["steps"] == 7 and len(saved["history"]) == 7
    assert not (tmp_path / "parts" / "supernet.partial.pt").exists()
    for name, t in whole.state_dict().items():
        assert torch.equal(t, resumed.state_dict()[name]), name


def test_a_warm_started_supernet_begins_from_the_checkpoint_and_its_tokenizer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    utts = make_corpus(tmp_path / "audio", n=8, seed=0)
    manifest = write_manifest(utts, tmp_path / "train.jsonl")
    space = _space()
    texts = [u.text for u in utts] + ["qxz"]  # a vocabulary the corpus alone would not give
    tokenizer = build_tokenizer("char", texts)
    trained = build_model(space.largest(), vocab_size=tokenizer.vocab_size)
    torch.manual_seed(1)
    for p in trained.parameters():
        p.data.normal_()  # weights no initialisation would give
    ckpt = save_checkpoint(
        tmp_path / "trained.pt",
        {
            "model": trained.state_dict(),
            "arch": space.largest().to_dict(),
            "tokenizer": tokenizer.to_state(),
        },
    )
    config = SupernetTrainConfig(
        train_manifest=str(manifest),
        space=space,
        out_dir=str(tmp_path / "net"),
        settings=TrainSettings(
            batch_seconds=8.0, speed_perturb=(1.0,), lr=1e-9, init_checkpoint=str(ckpt)
        ),
        max_steps=1,
        random_subnets=0,
    )
    net, loaded, _ = load_supernet(train_supernet(config))
    assert loaded.vocab_size == tokenizer.vocab_size
    assert "supernet initialised from" in caplog.text
    largest = net.extract(space.largest()).state_dict()
    weight = "head.proj.weight"
    assert weight in largest
    # One step at a negligible learning rate: the weights are the checkpoint's.
    assert torch.allclose(largest[weight], trained.state_dict()[weight], atol=1e-4)
