"""Training a supernet on speech, and scoring subnets with inherited weights.

:func:`train_supernet` runs sandwich-rule steps (:meth:`Supernet.sandwich_step`) over the
training manifest with the same data pipeline, optimiser (AdamW) and learning-rate schedule
(warm-up, cosine) as :func:`speechnas.train.train`, on ``settings.device``, until its step or
minute budget is spent, and writes ``supernet.pt`` (the shared weights, the space and the
tokenizer).
:func:`inherited_scores` transcribes a dev set with any subnets on their inherited weights.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from speechnas.arch import ArchSpec
from speechnas.data.dataset import endless_batches
from speechnas.data.manifest import Utterance, read_manifest
from speechnas.data.usable import tokenizer_texts
from speechnas.device import training_device
from speechnas.errors import UserError
from speechnas.supernet.scoring import SubnetScorer
from speechnas.supernet.space import SupernetSpace
from speechnas.supernet.supernet import Supernet
from speechnas.text import Tokenizer, build_tokenizer, tokenizer_from_state
from speechnas.timing import threads
from speechnas.train import TrainSettings
from speechnas.train.budget import StepBudget
from speechnas.train.checkpoint import load_checkpoint, save_checkpoint
from speechnas.train.partial import BUDGET_AND_PLACE, PartialRun, read_run_file, resume_key
from speechnas.train.schedule import warmup_cosine, warmup_length

__all__ = [
    "SupernetTrainConfig",
    "calibration_batches",
    "inherited_scores",
    "load_supernet",
    "train_supernet",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SupernetTrainConfig:
    """What :func:`train_supernet` does.

    Attributes:
        train_manifest: the training set.
        space: the elastic space.
        settings: tokenizer, batching, optimiser, precision and augmentation, as for a
            search's trials (``settings.specaugment`` and ``short_first_epochs`` are not
            applied: subnets are built without SpecAugment, batches come in one endless
            stream). ``settings.init_checkpoint`` warm-starts the shared weights from a
            trained model of the family by name and shape, with its tokenizer.
        out_dir: where ``supernet.pt`` goes.
        max_steps, max_minutes: the budget (one of them must be set); the cosine schedule
            spans ``max_steps`` (with minutes alone the rate stays at its peak after warm-up).
        grad_clip: global gradient-norm clip of each sandwich step.
        random_subnets: random subnets per step, besides the largest and the smallest.
        distill: weight of in-place distillation from the largest subnet (0: none; see
            :mod:`speechnas.supernet.supernet`).
        seed: initial weights, batching and subnet sampling.
        checkpoint_minutes: how often the run so far is saved to ``supernet.partial.pt``
            (0: every step). A run started again with the same config (budgets aside)
            continues from it as if it had not stopped; the minute budget counts the time
            spent before.
    """

    train_manifest: str
    space: SupernetSpace
    settings: TrainSettings = field(default_factory=TrainSettings)
    out_dir: str = "runs/supernet"
    max_steps: int | None = None
    max_minutes: float | None = None
    grad_clip: float = 5.0
    random_subnets: int = 2
    distill: float = 0.0
    seed: int = 0
    checkpoint_minutes: float = 2.0

    def __post_init__(self) -> None:
        StepBudget(self.max_steps, self.max_minutes)  # checks the budget
        if not 0.0 <= self.distill <= 1.0:
            raise ValueError(f"distill={self.distill}; expected a weight in [0, 1]")


def _tokenizer(config: SupernetTrainConfig, utts: Sequence[Utterance]) -> Tokenizer:
    return build_tokenizer(
        config.settings.tokenizer,
        tokenizer_texts(utts),
        vocab_size=config.settings.vocab_size,
    )


def _warm_start(net: Supernet, init: dict[str, Any], path: str | None) -> None:
    """The shared weights start from a trained model's, by name and shape (its tokenizer
    is the supernet's); what training made them is not in the supernet's budget."""
    got = net.weights.inherit(init["model"])
    if not got.whole + got.partial:
        raise UserError(f"init_checkpoint {path}: no tensor of it fits the supernet")
    log.info(
        "supernet initialised from %s: %d tensors whole, %d in part, %.0f%% of the weights",
        path,
        got.whole,
        got.partial,
        100 * got.share,
    )


def train_supernet(config: SupernetTrainConfig) -> Path:
    """Train a supernet (module docstring); returns the path of ``supernet.pt``.

    Raises:
        UserError: the manifest has no utterances.
        FloatingPointError: a subnet's loss is not finite.
    """
    utts = read_manifest(config.train_manifest)
    if not utts:
        raise UserError(f"{config.train_manifest}: no utterances to train on")
    settings = config.settings
    init = load_checkpoint(settings.init_checkpoint) if settings.init_checkpoint else None
    tokenizer = tokenizer_from_state(init["tokenizer"]) if init else _tokenizer(config, utts)
    device = training_device(settings.device, "train.device")
    net = Supernet(config.space, tokenizer.vocab_size, seed=config.seed)
    if init is not None:
        _warm_start(net, init, settings.init_checkpoint)
    net = net.to(device)
    budget = StepBudget(config.max_steps, config.max_minutes)
    total = budget.total_steps
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    rng = np.random.default_rng(config.seed)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    partial = PartialRun(
        out / "supernet.partial.pt",
        resume_key(config, BUDGET_AND_PLACE),
        every_minutes=config.checkpoint_minutes,
        what="supernet",
    )
    step, earlier_s, position = 0, 0.0, (0, 0)
    history: list[dict[str, float]] = []
    resumed = partial.load()

    with torch.random.fork_rng(devices=[]), threads(settings.threads):
        torch.manual_seed(config.seed)
        if resumed is not None:
            net.load_state_dict(resumed["weights"])
            optimizer.load_state_dict(resumed["optimizer"])
            rng.bit_generator.state = resumed["rng"]
            torch.set_rng_state(resumed["torch_rng"])
            step, earlier_s = int(resumed["step"]), float(resumed["seconds"])
            position, history = tuple(resumed["position"]), list(resumed["history"])
        batches = endless_batches(
            utts,
            tokenizer,
            source=config.train_manifest,
            batch_seconds=settings.batch_seconds,
            max_batch_size=settings.max_batch_size,
            speed_factors=settings.speed_perturb,
            seed=config.seed,
            position=position,
        )
        start = time.perf_counter() - earlier_s

        while not budget.spent(step, time.perf_counter() - start):
            batch = next(batches)
            warmup = warmup_length(settings.warmup_steps, total, settings.max_warmup_share)
            lr = warmup_cosine(step, peak=settings.lr, warmup=warmup, total=total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            losses = net.sandwich_step(
                (batch.wave, batch.wave_lens, batch.targets, batch.target_lens),
                optimizer,
                rng,
                random_subnets=config.random_subnets,
                clip=config.grad_clip,
                distill=config.distill,
                bf16=settings.precision == "bf16",
            )
            step += 1
            history.append({"step": step, **losses})
            if step % 20 == 0:
                log.info("supernet step %d: %s", step, losses)
            if partial.due():
                partial.save(
                    {
                        "weights": net.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(),
                        "step": step,
                        "seconds": time.perf_counter() - start,
                        "position": batches.position,
                        "history": history,
                    }
                )
    # Plain data only (read back with weights_only=True), written atomically: a search that
    # finds supernet.pt uses it as finished.
    path = save_checkpoint(
        out / "supernet.pt",
        {
            "space": _space_to_dict(config.space),
            "weights": net.state_dict(),
            "tokenizer": tokenizer.to_state(),
            "steps": step,
            "train_seconds": time.perf_counter() - start,
            "history": history,
            "seed": config.seed,
        },
    )
    partial.discard()
    return path


def _space_to_dict(space: SupernetSpace) -> dict[str, Any]:
    fields = dataclasses.asdict(space)
    fields["base"] = space.base.to_dict()
    return fields


def load_supernet(path: str | Path) -> tuple[Supernet, Tokenizer, dict[str, Any]]:
    """A trained supernet, its tokenizer and the rest of what :func:`train_supernet` saved
    (read with :func:`~speechnas.train.partial.read_run_file`: tensors and plain data only).

    Raises:
        UserError: the file is missing, not a supernet, or holds more than tensors and plain
            data (nothing in it is run).
    """
    saved = read_run_file(Path(path), "supernet")
    if not isinstance(saved, dict):
        raise UserError(f"{path}: not a supernet written by train_supernet; move it away")
    try:
        fields = dict(saved["space"])
        fields["base"] = ArchSpec.from_dict(fields["base"])
        for name in ("widths", "kernels", "heads", "ffn_expansions", "blocks"):
            if name in fields:  # (blocks: absent from supernets saved before they existed)
                fields[name] = tuple(fields[name])
        space = SupernetSpace(**fields)
        tokenizer = tokenizer_from_state(saved["tokenizer"])
        net = Supernet(space, tokenizer.vocab_size, seed=int(saved.get("seed", 0)))
        net.load_state_dict(saved["weights"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise UserError(
            f"{path}: not a supernet written by train_supernet ({e}); move it away to retrain"
        ) from e
    return net.eval(), tokenizer, saved


def calibration_batches(
    manifest: str,
    tokenizer: Tokenizer,
    count: int,
    settings: TrainSettings,
    *,
    seed: int = 0,
) -> list[tuple[Tensor, Tensor]]:
    """``count`` shuffled training batches ``(wave, wave_lens)`` (seeded, no augmentation)
    that re-estimate a batch-norm subnet's statistics before it is scored.

    Raises:
        UserError: the manifest yields no batch.
    """
    batches = endless_batches(
        read_manifest(manifest),
        tokenizer,
        source=manifest,
        batch_seconds=settings.batch_seconds,
        max_batch_size=settings.max_batch_size,
        seed=seed,
    )
    return [(b.wave, b.wave_lens) for b in itertools.islice(batches, count)]


def inherited_scores(
    net: Supernet,
    tokenizer: Tokenizer,
    specs: Sequence[ArchSpec],
    utts: Sequence[Utterance],
    *,
    calibration: Sequence[tuple[Tensor, Tensor]] = (),
) -> list[dict[str, float]]:
    """Dev WER and CER of each spec on its inherited weights (greedy decoding); see
    :class:`~speechnas.supernet.scoring.SubnetScorer`, which this builds once for ``specs``."""
    scorer = SubnetScorer(net, tokenizer, utts, calibration=calibration)
    return [scorer(spec) for spec in specs]
