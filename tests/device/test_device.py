"""Training and scoring on a CUDA GPU: the same results as on the CPU, within float error.

The GPU tests skip on a machine whose torch sees no CUDA GPU (CI); the device checks run
everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest, write_manifest
from speechnas.device import module_device, training_device
from speechnas.errors import ConfigError
from speechnas.evaluate.runner import evaluate_model
from speechnas.supernet import Supernet
from speechnas.supernet.scoring import SubnetScorer
from speechnas.supernet.train import SupernetTrainConfig, load_supernet, train_supernet
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.testing.supernet import tiny_supernet_space
from speechnas.text import build_tokenizer, normalize
from speechnas.train import TrainConfig, TrainSettings, load_model, train


def gpu(test: Callable[..., None]) -> Callable[..., None]:
    """A test that needs a CUDA GPU: marked ``gpu``, skipped without one."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
    return pytest.mark.gpu(skip(test))


def test_device_names_are_checked() -> None:
    assert training_device("cpu") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "CPU", ""):
        with pytest.raises(ConfigError, match="not a device"):
            training_device(bad, "train.device")
        with pytest.raises(ValueError, match="device"):
            TrainConfig(train_manifest="t.jsonl", device=bad)
        with pytest.raises(ValueError, match="device"):
            TrainSettings(device=bad)
    with pytest.raises(ConfigError, match="cuda:99"):
        training_device("cuda:99")
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_gpu_without_one_is_a_config_error(tmp_path: Path) -> None:
    utts = make_corpus(tmp_path / "audio", n=4, seed=0)
    config = TrainConfig(
        train_manifest=str(write_manifest(utts, tmp_path / "train.jsonl")),
        out_dir=str(tmp_path / "run"),
        arch=ArchSpec.uniform(num_layers=1, width=32, heads=2, kernel=7, n_mels=40),
        device="cuda",
        max_steps=1,
    )
    with pytest.raises(ConfigError, match="device: cuda asked for"):
        train(config, progress=False)


@gpu
def test_training_on_the_gpu_learns_and_its_checkpoint_scores_the_same_on_the_cpu(
    tmp_path: Path,
) -> None:
    train_utts = make_corpus(tmp_path / "train", n=12, seed=0)
    dev_utts = make_corpus(tmp_path / "dev", n=4, seed=1)
    config = TrainConfig(
        train_manifest=str(write_manifest(train_utts, tmp_path / "train.jsonl")),
        dev_manifest=str(write_manifest(dev_utts, tmp_path / "dev.jsonl")),
        out_dir=str(tmp_path / "run"),
        arch=ArchSpec.uniform(num_layers=2, width=32, heads=2, kernel=7, n_mels=40),
        batch_seconds=8.0,
        warmup_steps=2,
        max_epochs=3,
        device="cuda",
    )
    result = train(config, progress=False)
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert result.steps > 0 and len(history) == 3
    model, tokenizer, _ = load_model(result.last_checkpoint)  # weights come back on the CPU
    assert module_device(model).type == "cpu"
    on_cpu = evaluate_model(model, tokenizer, read_manifest(config.dev_manifest), rtf_utterances=0)
    on_gpu = evaluate_model(
        model.cuda(), tokenizer, read_manifest(config.dev_manifest), rtf_utterances=0
    )
    assert on_gpu.cer == pytest.approx(on_cpu.cer, abs=0.02)
    # A run resumed on the CPU continues the GPU's checkpoint.
    more = dataclasses.replace(config, max_epochs=4, device="cpu")
    assert train(more, resume=result.last_checkpoint, progress=False).epochs == 4


@gpu
def test_a_supernet_trains_and_scores_subnets_on_the_gpu_as_on_the_cpu(tmp_path: Path) -> None:
    utts = make_corpus(tmp_path / "audio", n=8, seed=0)
    manifest = write_manifest(utts, tmp_path / "train.jsonl")
    config = SupernetTrainConfig(
        train_manifest=str(manifest),
        space=tiny_supernet_space(),
        out_dir=str(tmp_path / "net"),
        settings=TrainSettings(
            batch_seconds=8.0, warmup_steps=2, speed_perturb=(1.0,), device="cuda"
        ),
        max_steps=4,
        random_subnets=1,
        distill=0.5,
    )
    net, tokenizer, saved = load_supernet(train_supernet(config))
    assert saved["steps"] == 4 and "smallest_kd" in saved["history"][-1]
    rng = np.random.default_rng(0)
    specs = [net.space.largest(), net.space.smallest(), net.space.sample(rng)]
    on_cpu = [SubnetScorer(net, tokenizer, utts[:4])(spec) for spec in specs]
    net.cuda()
    scorer = SubnetScorer(net, tokenizer, utts[:4])
    on_gpu = [scorer(spec) for spec in specs]
    for a, b in zip(on_cpu, on_gpu, strict=True):
        assert b["cer"] == pytest.approx(a["cer"], abs=0.02)


@gpu
def test_a_subnet_loss_on_gpu_shared_weights_equals_the_cpu_one() -> None:
    tokenizer = build_tokenizer("char", [normalize("a test sentence", "en")])
    net = Supernet(tiny_supernet_space(), tokenizer.vocab_size).eval()
    g = torch.Generator().manual_seed(0)
    batch = (
        0.1 * torch.randn(2, 8000, generator=g),
        torch.tensor([8000, 6000]),
        torch.randint(1, tokenizer.vocab_size, (2, 4), generator=g),
        torch.tensor([4, 3]),
    )
    spec = net.space.sample(np.random.default_rng(1))
    with torch.no_grad():
        cpu = net.loss(spec, *batch)
        gpu_loss = net.cuda().loss(spec, *batch)  # inputs are moved to the weights
    assert gpu_loss.device.type == "cuda"
    assert float(gpu_loss) == pytest.approx(float(cpu), rel=1e-3)
