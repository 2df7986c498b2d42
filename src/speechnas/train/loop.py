"""The training loop: one explicit function, read top to bottom.

AdamW with warm-up and cosine decay, gradient clipping, SpecAugment and speed perturbation,
duration-bucketed batches, dev WER/CER after each epoch, atomic checkpoints (``last.pt`` after
every epoch and when a budget ends, ``best.pt`` at the best dev WER) and exact resume from
``last.pt``: the same seed and config give the same weights whether or not a run was resumed
at an epoch boundary. Non-finite losses skip their step; too many in a row stop the run with
an error, keeping the last checkpoint. Unreadable files are skipped and reported.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from speechnas._provenance import run_info
from speechnas.arch import ArchSpec
from speechnas.data.audio import audio_duration
from speechnas.data.batching import DurationBatchSampler
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance, read_manifest
from speechnas.errors import AudioError, UserError
from speechnas.evaluate.runner import evaluate_model
from speechnas.models import SpeechModel, build_model
from speechnas.text import Tokenizer, build_tokenizer, normalize, tokenizer_from_state
from speechnas.train.checkpoint import load_checkpoint, save_checkpoint
from speechnas.train.config import TrainConfig
from speechnas.train.schedule import warmup_cosine

__all__ = ["TrainingDiverged", "TrainResult", "train"]

log = logging.getLogger(__name__)


class TrainingDiverged(UserError):
    """The loss stayed NaN/inf for too many steps (usually a learning rate too high)."""


@dataclass
class TrainResult:
    """What a run produced."""

    out_dir: Path
    steps: int
    epochs: int
    train_seconds: float
    num_params: int
    best_dev_wer: float | None
    last_dev: dict[str, Any] | None
    skipped: dict[str, str] = field(default_factory=dict)
    nonfinite_steps: int = 0

    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        best = self.out_dir / "best.pt"
        return best if best.exists() else self.last_checkpoint


def _fill_durations(utts: list[Utterance], skipped: dict[str, str]) -> list[Utterance]:
    """Measure missing durations from file headers; unreadable files are recorded as skipped."""
    out = []
    for u in utts:
        if u.duration > 0:
            out.append(u)
            continue
        try:
            d = audio_duration(u.audio_path)
        except AudioError as e:
            skipped[u.id] = e.reason
            log.warning("skipping %s (%s): %s", u.id, u.audio_path, e.reason)
            d = 0.0
        out.append(Utterance(u.id, u.audio_path, d, u.text, u.speaker, u.language))
    return out


def _prepare_run_dir(config: TrainConfig) -> Path:
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=True))
    (out / "run_info.json").write_text(json.dumps(run_info(), indent=2, sort_keys=True))
    return out


def _init_state(
    config: TrainConfig, train_utts: list[Utterance], resume: Path | None
) -> tuple[SpeechModel, Tokenizer, torch.optim.Optimizer, dict[str, Any]]:
    ckpt: dict[str, Any] = {}
    if resume is not None:
        ckpt = load_checkpoint(resume)
        saved = ArchSpec.from_dict(ckpt["arch"])
        if saved != config.arch:
            raise UserError(f"{resume}: its architecture differs from the config's arch")
        tokenizer = tokenizer_from_state(ckpt["tokenizer"])
    else:
        texts = [normalize(u.text, u.language) for u in train_utts]
        tokenizer = build_tokenizer(
            config.tokenizer, [t for t in texts if t], vocab_size=config.vocab_size
        )
    model = build_model(
        config.arch, vocab_size=tokenizer.vocab_size, specaugment=config.specaugment
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    if ckpt:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
    return model, tokenizer, optimizer, ckpt


def train(
    config: TrainConfig, *, resume: str | Path | None = None, progress: bool = True
) -> TrainResult:
    """Train ``config.arch`` on ``config.train_manifest``; see the module docstring.

    Args:
        config: the run.
        resume: a checkpoint to continue from (``last.pt`` of an earlier run of this config).
        progress: show a progress bar on stderr.

    Raises:
        UserError: a missing manifest, an empty training set, a bad checkpoint.
        TrainingDiverged: ``config.max_nonfinite_steps`` non-finite losses in a row.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out = _prepare_run_dir(config)
    skipped: dict[str, str] = {}
    train_utts = _fill_durations(read_manifest(config.train_manifest), skipped)
    dev_utts = read_manifest(config.dev_manifest) if config.dev_manifest else []
    if not train_utts:
        raise UserError(f"{config.train_manifest}: no utterances to train on")

    model, tokenizer, optimizer, ckpt = _init_state(
        config, train_utts, Path(resume) if resume else None
    )
    dataset = SpeechDataset(
        train_utts, tokenizer, speed_factors=config.speed_perturb, seed=config.seed
    )
    dataset.skipped.update(skipped)
    sampler = DurationBatchSampler(
        [u.duration for u in train_utts],
        max_batch_seconds=config.batch_seconds,
        max_batch_size=config.max_batch_size,
        seed=config.seed,
    )
    steps_per_epoch = len(sampler.batches(0))
    total_steps = config.max_steps or steps_per_epoch * config.max_epochs
    step = int(ckpt.get("step", 0))
    epoch = int(ckpt.get("epoch", 0))
    skip_batches = int(ckpt.get("batch_in_epoch", 0))
    best_dev: float | None = ckpt.get("best_dev")
    elapsed = float(ckpt.get("train_seconds", 0.0))
    history_path = out / "history.jsonl"
    log.info(
        "training %s: %d params, %d utterances (%.2f h), %d steps/epoch, tokenizer %s (%d)",
        config.arch.arch_id,
        model.num_params(),
        len(train_utts),
        sum(u.duration for u in train_utts) / 3600,
        steps_per_epoch,
        config.tokenizer,
        tokenizer.vocab_size,
    )

    def state(batch_in_epoch: int) -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "config": config.to_dict(),
            "arch": config.arch.to_dict(),
            "tokenizer": tokenizer.to_state(),
            "best_dev": best_dev,
            "train_seconds": elapsed,
            "torch_rng": torch.get_rng_state(),
            "augment_rng": aug_rng.get_state(),
        }

    def out_of_budget() -> bool:
        if config.max_steps is not None and step >= config.max_steps:
            return True
        return config.max_minutes is not None and elapsed >= 60.0 * config.max_minutes

    aug_rng = torch.Generator().manual_seed(config.seed)
    if "augment_rng" in ckpt:
        aug_rng.set_state(ckpt["augment_rng"])
    nonfinite_run = nonfinite_total = 0
    last_dev: dict[str, Any] | None = None
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} batches"),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
        transient=True,
    )
    with bar:
        while epoch < config.max_epochs and not out_of_budget():
            batches = sampler.batches(epoch)
            task = bar.add_task("train", total=len(batches), epoch=epoch + 1, loss="-")
            model.train()
            loss_sum, loss_count = 0.0, 0
            stopped_mid_epoch = False
            for b, indices in enumerate(batches):
                if b < skip_batches:
                    bar.advance(task)
                    continue
                if out_of_budget():
                    save_checkpoint(out / "last.pt", state(b))
                    stopped_mid_epoch = True
                    break
                start = time.perf_counter()
                batch = dataset.batch(indices, epoch)
                if batch is not None:
                    lr = warmup_cosine(
                        step, peak=config.lr, warmup=config.warmup_steps, total=total_steps
                    )
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    loss = model(
                        batch.wave, batch.wave_lens, batch.targets, batch.target_lens, aug_rng
                    )
                    optimizer.zero_grad(set_to_none=True)
                    finite = bool(torch.isfinite(loss))
                    if finite:
                        loss.backward()
                        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                        finite = bool(torch.isfinite(norm))
                    if finite:
                        optimizer.step()
                        step += 1
                        nonfinite_run = 0
                        loss_sum += loss.item()
                        loss_count += 1
                        bar.update(task, loss=f"{loss_sum / loss_count:.3f}")
                    else:
                        nonfinite_run += 1
                        nonfinite_total += 1
                        log.warning("non-finite loss or gradient at step %d: step skipped", step)
                        if nonfinite_run >= config.max_nonfinite_steps:
                            raise TrainingDiverged(
                                f"{nonfinite_run} non-finite losses in a row at step {step}; "
                                f"lower lr (now {config.lr}) or check the data. "
                                f"Last good checkpoint: {out / 'last.pt'}"
                            )
                elapsed += time.perf_counter() - start
                bar.advance(task)
            bar.remove_task(task)
            if stopped_mid_epoch:
                break
            skip_batches = 0
            epoch += 1
            record: dict[str, Any] = {
                "epoch": epoch,
                "step": step,
                "train_loss": loss_sum / max(loss_count, 1),
                "train_seconds": round(elapsed, 2),
            }
            if dev_utts and (epoch % config.eval_every == 0 or out_of_budget()):
                dev = evaluate_model(model, tokenizer, dev_utts, name="dev", rtf_utterances=0)
                record.update(dev_wer=dev.wer, dev_cer=dev.cer)
                last_dev = {"wer": dev.wer, "cer": dev.cer, "utterances": dev.utterances}
                if best_dev is None or dev.wer < best_dev:
                    best_dev = dev.wer
                    save_checkpoint(out / "best.pt", state(0))
            save_checkpoint(out / "last.pt", state(0))
            with history_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            log.info(
                "epoch %d step %d loss %.3f%s (%.0f s)",
                epoch,
                step,
                record["train_loss"],
                f" dev WER {record['dev_wer']:.3f} CER {record['dev_cer']:.3f}"
                if "dev_wer" in record
                else "",
                elapsed,
            )
    if not (out / "last.pt").exists():
        save_checkpoint(out / "last.pt", state(0))
    if dataset.skipped:
        log.warning("skipped %d utterance(s) that could not be used", len(dataset.skipped))
    log.info("trained %d steps in %.1f s", step, elapsed)
    return TrainResult(
        out_dir=out,
        steps=step,
        epochs=epoch,
        train_seconds=elapsed,
        num_params=model.num_params(),
        best_dev_wer=best_dev,
        last_dev=last_dev,
        skipped=dict(dataset.skipped),
        nonfinite_steps=nonfinite_total,
    )
