"""DARTS for speech: first-order alternation of weights and architecture, with a latency
penalty.

Each step (Liu et al., 2019, first-order):

1. the weights take an AdamW step on a training batch, ``alpha`` fixed;
2. ``alpha`` takes an Adam step on a validation batch (a speaker-disjoint dev set), weights
   fixed, on ``loss_val + penalty * |E[latency](alpha) - target_ms|`` (the expected latency
   from the target's latency table; nats per utterance plus ``penalty`` per millisecond).

Every step's losses, expected latency and ``softmax(alpha)`` go to the history, which is
written with the result to ``darts.json``: the architecture extracted at ``target_ms``
(exactly, by dynamic programming over the table's per-candidate latencies) and the
most likely one. The run so far is saved to ``darts.partial.pt`` every
``checkpoint_minutes`` (between steps); run again with the same config (budgets aside), a
killed run continues from there as if it had not stopped
(:class:`~speechnas.train.partial.PartialRun`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from speechnas.arch import ArchSpec, LayerSpec
from speechnas.darts.model import DartsModel
from speechnas.data.dataset import Batch, BatchStream, endless_batches
from speechnas.data.manifest import read_manifest
from speechnas.data.usable import tokenizer_texts
from speechnas.errors import UserError
from speechnas.hardware.lut import LatencyTable
from speechnas.text import build_tokenizer
from speechnas.timing import threads
from speechnas.train import TrainSettings
from speechnas.train.budget import StepBudget
from speechnas.train.partial import BUDGET_AND_PLACE, PartialRun, resume_key
from speechnas.train.schedule import warmup_cosine, warmup_length

__all__ = ["DartsConfig", "DartsResult", "darts_step", "train_darts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DartsConfig:
    """A DARTS run.

    Attributes:
        train_manifest, val_manifest: weights learn on the first, ``alpha`` on the second.
        base: the architecture around the layers (its layers are the positions).
        candidates: per position, the candidate layers (one width; ``skip`` for identity).
        table: a latency table file for the target (``None``: no latency term).
        target_ms: the latency the penalty pulls towards (needs ``table``).
        penalty: ``lambda`` of the penalty, per millisecond.
        settings: tokenizer, batching and the weights' optimiser (as for a search's trials).
        alpha_lr: Adam learning rate of ``alpha``.
        alpha_warmup_steps: steps that train only the weights before ``alpha`` starts to
            learn (so that its first gradients do not come from untrained weights).
        max_steps, max_minutes: the budget (one of them must be set); the minute budget
            counts the time spent before a resume.
        out_dir: where ``darts.json`` (and the partial run) go.
        seed: initial weights and batching.
        checkpoint_minutes: how often the run so far is saved (0: every step).
    """

    train_manifest: str
    val_manifest: str
    base: ArchSpec
    candidates: tuple[tuple[LayerSpec, ...], ...]
    table: str | None = None
    target_ms: float | None = None
    penalty: float = 1.0
    settings: TrainSettings = field(default_factory=TrainSettings)
    alpha_lr: float = 3e-3
    alpha_warmup_steps: int = 0
    max_steps: int | None = None
    max_minutes: float | None = None
    out_dir: str = "runs/darts"
    seed: int = 0
    checkpoint_minutes: float = 2.0

    def __post_init__(self) -> None:
        StepBudget(self.max_steps, self.max_minutes)  # checks the budget
        if self.target_ms is not None and self.table is None:
            raise ValueError("target_ms needs a latency table (table)")


@dataclass(frozen=True)
class DartsResult:
    """What a run found: the architecture at the target (``None`` if no architecture of the
    candidates fits it; without a target, the most likely one), the most likely one, the
    final ``softmax(alpha)`` and the per-step history."""

    spec: ArchSpec | None
    most_likely: ArchSpec
    probs: list[list[float]]
    history: list[dict[str, Any]]
    path: Path


def _loss(model: DartsModel, batch: Batch) -> torch.Tensor:
    loss: torch.Tensor = model(batch.wave, batch.wave_lens, batch.targets, batch.target_lens)
    return loss


def train_darts(config: DartsConfig) -> DartsResult:
    """Run DARTS (module docstring).

    Raises:
        UserError: an empty manifest.
        FloatingPointError: a non-finite loss.
    """
    train_utts = read_manifest(config.train_manifest)
    val_utts = read_manifest(config.val_manifest)
    for name, utts in (("train", train_utts), ("val", val_utts)):
        if not utts:
            raise UserError(f"{name} manifest has no utterances")
    s = config.settings
    if s.device != "cpu":
        log.info("DARTS runs on the CPU; device %s serves the trials it proposes", s.device)
    tokenizer = build_tokenizer(s.tokenizer, tokenizer_texts(train_utts), vocab_size=s.vocab_size)
    table = LatencyTable.load(config.table) if config.table else None
    with torch.random.fork_rng(devices=[]), threads(s.threads):
        torch.manual_seed(config.seed)
        model = DartsModel(config.base, config.candidates, tokenizer.vocab_size, table=table)

        def stream(
            utts: Sequence[Any],
            seed: int,
            source: str,
            speeds: Sequence[float],
            position: tuple[int, int],
        ) -> BatchStream:
            return endless_batches(
                utts,
                tokenizer,
                source=source,
                batch_seconds=s.batch_seconds,
                max_batch_size=s.max_batch_size,
                speed_factors=speeds,
                seed=seed,
                position=position,
            )

        weights = torch.optim.AdamW(
            model.weight_parameters(), lr=s.lr, weight_decay=s.weight_decay
        )
        alpha = torch.optim.Adam(
            model.arch_parameters(), lr=config.alpha_lr, betas=(0.5, 0.999), weight_decay=1e-3
        )
        out = Path(config.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "darts.json"
        partial = PartialRun(
            out / "darts.partial.pt",
            resume_key(config, BUDGET_AND_PLACE),
            every_minutes=config.checkpoint_minutes,
            what="DARTS",
        )
        history: list[dict[str, Any]] = []
        step, earlier_s = 0, 0.0
        train_at, val_at = (0, 0), (0, 0)  # (epoch, batches of it consumed) of each stream
        resumed = partial.load()
        if resumed is not None:
            model.load_state_dict(resumed["model"])
            weights.load_state_dict(resumed["weights"])
            alpha.load_state_dict(resumed["alpha"])
            torch.set_rng_state(resumed["torch_rng"])
            step, earlier_s = int(resumed["step"]), float(resumed["seconds"])
            train_at, val_at = tuple(resumed["train_position"]), tuple(resumed["val_position"])
            history = list(resumed["history"])
        train_batches = stream(
            train_utts, config.seed, config.train_manifest, s.speed_perturb, train_at
        )
        # alpha learns on the validation audio as it is
        val_batches = stream(val_utts, config.seed + 1, config.val_manifest, (1.0,), val_at)
        budget = StepBudget(config.max_steps, config.max_minutes)
        total = budget.total_steps
        start = time.perf_counter() - earlier_s
        model.train()

        def record(**extra: Any) -> None:
            """Write the run so far (the history survives a failure)."""
            payload = {
                "target_ms": config.target_ms,
                "penalty": config.penalty,
                "base_ms": model.base_ms,
                "latency_ms": model.latency_ms,
                "candidates": [[dataclasses.asdict(c) for c in p] for p in config.candidates],
                "probs": [p.detach().tolist() for p in model.probs()],
                "history": history,
                "train_seconds": time.perf_counter() - start,
                **extra,
            }
            path.write_text(json.dumps(payload, indent=1))

        try:
            while not budget.spent(step, time.perf_counter() - start):
                for group in weights.param_groups:
                    group["lr"] = warmup_cosine(
                        step,
                        peak=s.lr,
                        warmup=warmup_length(s.warmup_steps, total, s.max_warmup_share),
                        total=total,
                    )
                warm = step < config.alpha_warmup_steps
                losses = darts_step(
                    model,
                    weights,
                    alpha,
                    next(train_batches),
                    None if warm else next(val_batches),
                    config,
                    update_alpha=not warm,
                )
                step += 1
                history.append(
                    {**losses, "step": step, "probs": [p.detach().tolist() for p in model.probs()]}
                )
                if step % 20 == 0:
                    log.info("darts step %d: %s", step, losses)
                if partial.due():
                    partial.save(
                        {
                            "model": model.state_dict(),
                            "weights": weights.state_dict(),
                            "alpha": alpha.state_dict(),
                            "torch_rng": torch.get_rng_state(),
                            "step": step,
                            "seconds": time.perf_counter() - start,
                            "train_position": train_batches.position,
                            "val_position": val_batches.position,
                            "history": history,
                        }
                    )
        except BaseException as e:  # a NaN, an interrupt: keep what was learned
            record(failed=f"{type(e).__name__}: {e}")
            raise
    most_likely = model.extract()
    spec: ArchSpec | None = most_likely
    infeasible = None
    if config.target_ms is not None:
        try:
            spec = model.extract(config.target_ms)
        except ValueError as e:  # the target is below every architecture of the candidates
            spec, infeasible = None, str(e)
            log.warning("DARTS: nothing fits target_ms=%g: %s", config.target_ms, e)
    record(
        spec=spec.to_dict() if spec is not None else None,
        infeasible=infeasible,
        most_likely=most_likely.to_dict(),
    )
    partial.discard()
    probs = [p.detach().tolist() for p in model.probs()]
    return DartsResult(spec, most_likely, probs, history, path)


def darts_step(
    model: DartsModel,
    weights: torch.optim.Optimizer,
    alpha: torch.optim.Optimizer,
    train_batch: Batch,
    val_batch: Batch | None,
    config: DartsConfig,
    *,
    update_alpha: bool = True,
) -> dict[str, float | None]:
    """One first-order DARTS step (module docstring): the weights on ``train_batch`` with
    ``alpha`` fixed, then, if ``update_alpha``, ``alpha`` on ``val_batch`` with the weights
    fixed.

    Returns the training and validation losses and the expected latency (``None`` without a
    table; the validation loss is ``None`` when ``alpha`` was not updated).

    Raises:
        FloatingPointError: a loss is not finite (nothing is stepped after it).
    """
    for a in model.arch_parameters():  # no gradient for alpha from the training loss
        a.requires_grad_(False)
    try:
        train_loss = _loss(model, train_batch)
    finally:
        for a in model.arch_parameters():
            a.requires_grad_(True)
    _check(train_loss, "training")
    weights.zero_grad(set_to_none=True)
    train_loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(model.weight_parameters(), 5.0)
    weights.step()
    if not update_alpha:
        expected = None
        if model.latency_ms is not None:
            expected = float(model.expected_latency_ms().detach())
        return {
            "train_loss": float(train_loss.detach()),
            "val_loss": None,
            "expected_latency_ms": expected,
        }

    if val_batch is None:
        raise ValueError("updating alpha needs a validation batch")
    val_loss = _loss(model, val_batch)
    _check(val_loss, "validation")
    objective, expected = val_loss, None
    if model.latency_ms is not None:
        latency = model.expected_latency_ms()
        expected = float(latency.detach())
        if config.target_ms is not None:
            objective = objective + config.penalty * (latency - config.target_ms).abs()
    alpha.zero_grad(set_to_none=True)
    objective.backward()  # type: ignore[no-untyped-call]
    alpha.step()
    weights.zero_grad(set_to_none=True)  # the weights do not learn from validation data
    return {
        "train_loss": float(train_loss.detach()),
        "val_loss": float(val_loss.detach()),
        "expected_latency_ms": expected,
    }


def _check(loss: torch.Tensor, which: str) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"DARTS: the {which} loss is {float(loss)}")
