"""The training loop: one explicit loop, read top to bottom.

AdamW with warm-up and cosine decay, gradient clipping, SpecAugment and speed perturbation,
duration-bucketed batches, dev WER/CER every ``eval_every`` epochs, atomic checkpoints
(``last.pt`` after every epoch and when a budget ends, ``best.pt`` at the best dev WER) and
exact resume from ``last.pt``: the same seed and config give the same weights whether or not a
run was interrupted (on the CPU; :mod:`speechnas.device` says what a GPU keeps). Non-finite
losses skip their step; too many in a row stop the run with an error, keeping the last
checkpoint, and so does a run in which no step has had a finite loss when it would be scored
or end (an untrained model is no result). Unusable utterances (:mod:`speechnas.data.usable`:
unreadable files, empty transcripts, audio over ``max_utterance_seconds``) are skipped,
counted and reported. A dev set with nothing to score is an error, never a WER of 0.

The global torch RNG (which dropout draws from) is forked for the run, so a caller's random
state is left as it was; the thread count is restored too.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from speechnas._provenance import run_info
from speechnas.arch import ArchSpec
from speechnas.data.batching import DurationBatchSampler
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance, read_manifest, total_hours
from speechnas.data.usable import duration_known, tokenizer_texts
from speechnas.data.validate import validate
from speechnas.device import training_device
from speechnas.errors import ConfigError, UserError
from speechnas.evaluate.runner import evaluate_model, scorable_set
from speechnas.evaluate.wer import NothingToScore
from speechnas.locking import exclusive
from speechnas.models import SpeechModel, build_model
from speechnas.models.inherit import inherit_weights, remap_vocabulary
from speechnas.models.int8_sim import simulate_int8
from speechnas.text import Tokenizer, build_tokenizer, tokenizer_from_state
from speechnas.train.checkpoint import load_checkpoint, save_checkpoint
from speechnas.train.config import TrainConfig
from speechnas.train.schedule import warmup_cosine, warmup_length

__all__ = ["TrainResult", "TrainingDiverged", "config_changes", "resumable_checkpoint", "train"]

log = logging.getLogger(__name__)

#: Config keys a resumed run may change: budgets and where things go, not what is trained.
RESUMABLE_CHANGES = frozenset(
    {
        "max_epochs",
        "max_steps",
        "max_minutes",
        "stop_after_steps",
        "threads",
        "device",
        "out_dir",
        "eval_every",
        "early_stop_patience",
    }
)


#: Steps timed before a minute budget's schedule is first fitted to the step rate.
_RATE_STEPS = 10


class TrainingDiverged(UserError):
    """The loss stayed NaN/inf for too many steps, or for every step of a run (usually a
    learning rate too high)."""


@dataclass
class TrainResult:
    """What a run produced."""

    out_dir: Path
    steps: int
    epochs: int
    train_seconds: float
    num_params: int
    best_dev_score: float | None
    last_dev: dict[str, Any] | None
    skipped: dict[str, str] = field(default_factory=dict)
    nonfinite_steps: int = 0
    stopped_by_budget: bool = False
    stopped_early: bool = False

    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        best = self.out_dir / "best.pt"
        return best if best.exists() else self.last_checkpoint


def config_changes(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """Keys whose values differ between a checkpoint's config and ``config``.

    A key the checkpoint's config lacks (it predates the key) counts as the key's default.
    """
    now = json.loads(json.dumps(config.to_dict()))
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    # Tuples and lists compare equal once in JSON form.
    saved = json.loads(json.dumps({**defaults, **saved}))
    keys = set(saved) | set(now)
    return sorted(k for k in keys if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))


def resumable_checkpoint(config: TrainConfig) -> Path | None:
    """``out_dir/last.pt`` when it exists and was written by this config, else ``None``.

    Lets a job continue where an interrupted run of the same config stopped and start afresh
    after a change (pass ``overwrite=True`` to :func:`train` in that case).
    """
    last = Path(config.out_dir) / "last.pt"
    if not last.exists():
        return None
    try:
        saved = load_checkpoint(last).get("config", {})
    except UserError:
        return None
    return None if config_changes(saved, config) else last


def _known_durations(
    utts: list[Utterance], skipped: dict[str, str], max_seconds: float
) -> list[Utterance]:
    """Measure unknown durations (decoding the file); unusable files, and those over
    ``max_seconds``, are recorded as skipped."""
    unknown = [u for u in utts if not duration_known(u.duration)]
    if not unknown:
        return utts
    report = validate(unknown, check_text=False, check_duration=False, max_seconds=max_seconds)
    for problem in report.problems:
        skipped[problem.utt_id] = problem.reason
        detail = f" ({problem.detail})" if problem.detail else ""
        log.warning("skipping %s (%s): %s%s", problem.utt_id, problem.path, problem.reason, detail)
    return report.fill_durations(utts)


def _dev_set(path: str | None) -> list[Utterance]:
    """The dev set's utterances (:func:`~speechnas.evaluate.runner.scorable_set`)."""
    return [] if path is None else scorable_set(path, f"dev set {path}")


def _start_run_dir(config: TrainConfig, *, resuming: bool, overwrite: bool) -> Path:
    out = Path(config.out_dir)
    leftovers = [out / n for n in ("last.pt", "best.pt", "history.jsonl") if (out / n).exists()]
    if leftovers and not resuming:
        if not overwrite:
            raise UserError(
                f"{out} already holds a run ({leftovers[0].name}); resume it "
                "(--resume auto), choose another out_dir, or pass --overwrite"
            )
        for path in leftovers:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=True))
    (out / "run_info.json").write_text(json.dumps(run_info(), indent=2, sort_keys=True))
    return out


class _Run:
    """The mutable state of one run: model, optimiser, data, counters and generators."""

    def __init__(self, config: TrainConfig, out: Path, ckpt: dict[str, Any]) -> None:
        self.config = config
        self.out = out
        skipped: dict[str, str] = dict(ckpt.get("skipped", {}))
        self.train_utts = _known_durations(
            read_manifest(config.train_manifest), skipped, config.max_utterance_seconds
        )
        if not self.train_utts:
            raise UserError(f"{config.train_manifest}: no utterances to train on")
        self.dev_utts = _dev_set(config.dev_manifest)
        self.init = self._init_checkpoint() if not ckpt else None
        self.tokenizer = self._tokenizer(ckpt)
        self.model: SpeechModel = build_model(
            config.arch, vocab_size=self.tokenizer.vocab_size, specaugment=config.specaugment
        )
        if config.zero_init_residuals:
            self.model.zero_residual_branches()
        if self.init is not None:
            self._inherit(self.init)
        self.device = training_device(config.device)
        self.model.to(self.device)
        self.bf16 = config.precision == "bf16"
        self.inter_ctc = config.inter_ctc_weight
        if self.inter_ctc > 0.0 and self.model.inter_ctc_tap is None:
            log.info(
                "inter_ctc_weight=%g ignored: %s has no CTC projection or no layer to tap",
                self.inter_ctc,
                config.arch.summary(),
            )
            self.inter_ctc = 0.0
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.aug_rng = torch.Generator().manual_seed(config.seed)
        self.dataset = SpeechDataset(
            self.train_utts,
            self.tokenizer,
            speed_factors=config.speed_perturb,
            seed=config.seed,
            max_seconds=config.max_utterance_seconds,
        )
        self.dataset.skipped.update(skipped)
        self.sampler = DurationBatchSampler(
            [u.duration for u in self.train_utts],
            max_batch_seconds=config.batch_seconds,
            max_batch_size=config.max_batch_size,
            seed=config.seed,
            short_first_epochs=config.short_first_epochs,
            groups=[u.language for u in self.train_utts],
            balance=config.language_balance,
        )
        self.steps_per_epoch = len(self.sampler.batches(0))
        # The schedule's length is fixed when a run starts; a resume keeps it.
        self.total_steps = int(
            ckpt.get("total_steps", config.max_steps or self.steps_per_epoch * config.max_epochs)
        )
        self.step = int(ckpt.get("step", 0))
        self.epoch = int(ckpt.get("epoch", 0))
        self.batch_in_epoch = int(ckpt.get("batch_in_epoch", 0))
        self.best_dev: float | None = ckpt.get("best_dev")
        self.scorings_since_best = int(ckpt.get("scorings_since_best", 0))
        self.elapsed = float(ckpt.get("train_seconds", 0.0))
        self.rate_mark = (self.step, self.elapsed)  # where the step rate is timed from
        self.rate_fitted = False
        self.nonfinite_run = self.nonfinite_total = 0
        self.last_dev: dict[str, Any] | None = None
        if ckpt:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            torch.set_rng_state(ckpt["torch_rng"])
            self.aug_rng.set_state(ckpt["augment_rng"])

    def _tokenizer(self, ckpt: dict[str, Any]) -> Tokenizer:
        if ckpt:
            return tokenizer_from_state(ckpt["tokenizer"])
        if self.init is not None and self.config.init_vocabulary == "checkpoint":
            return tokenizer_from_state(self.init["tokenizer"])
        source = self.train_utts
        if self.config.tokenizer_manifest:
            source = read_manifest(self.config.tokenizer_manifest)
        try:
            return build_tokenizer(
                self.config.tokenizer, tokenizer_texts(source), vocab_size=self.config.vocab_size
            )
        except ValueError as e:
            raise ConfigError(f"cannot build the {self.config.tokenizer} tokenizer: {e}") from e

    def _init_checkpoint(self) -> dict[str, Any] | None:
        path = self.config.init_checkpoint
        if path is None:
            return None
        init = load_checkpoint(path)
        if self.config.init_by_shape:
            return init
        if ArchSpec.from_dict(init["arch"]) != self.config.arch:
            raise UserError(
                f"init_checkpoint {path}: its architecture differs from arch; set "
                "init_by_shape: true to inherit its weights by name and shape"
            )
        return init

    def _inherit(self, init: dict[str, Any]) -> None:
        """Start from ``init``'s weights: all of them, or with ``init_by_shape`` those of
        its tensors that share names with the model's, cut to shape. With a vocabulary of
        the data (``init_vocabulary``) other than the checkpoint's, its output rows follow
        their tokens first (:func:`~speechnas.models.inherit.remap_vocabulary`)."""
        path = self.config.init_checkpoint
        source = init["model"]
        theirs = tokenizer_from_state(init["tokenizer"])
        if theirs != self.tokenizer:
            # init_vocabulary: data. The output rows of the tokens both share are kept.
            mine = self.tokenizer.pieces()
            shared = len(set(theirs.pieces()) & set(mine))
            source = remap_vocabulary(source, theirs.pieces(), mine, self.model.state_dict())
            log.info(
                "vocabulary of the training data (%d tokens): %d shared with %s's (%d)",
                len(mine),
                shared,
                path,
                theirs.vocab_size,
            )
        if not self.config.init_by_shape:
            try:
                self.model.load_state_dict(source)
            except RuntimeError as e:
                raise UserError(f"init_checkpoint {path}: its weights do not fit: {e}") from e
            log.info("initialising weights from %s", path)
            return
        got = inherit_weights(source, self.model, causal=self.config.arch.streaming is not None)
        if not got.whole + got.partial:
            raise UserError(
                f"init_checkpoint {path}: no tensor of it fits this architecture "
                f"({ArchSpec.from_dict(init['arch']).summary()} -> {self.config.arch.summary()})"
            )
        log.info(
            "initialising from %s by shape: %d tensors whole, %d in part, %d new; "
            "%.0f%% of the weights inherited",
            path,
            got.whole,
            got.partial,
            len(got.missing),
            100 * got.share,
        )

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "total_steps": self.total_steps,
            "config": self.config.to_dict(),
            "arch": self.config.arch.to_dict(),
            "tokenizer": self.tokenizer.to_state(),
            "best_dev": self.best_dev,
            "scorings_since_best": self.scorings_since_best,
            "train_seconds": self.elapsed,
            "skipped": dict(self.dataset.skipped),
            "torch_rng": torch.get_rng_state(),
            "augment_rng": self.aug_rng.get_state(),
        }

    @property
    def warmup_steps(self) -> int:
        """The warm-up: ``warmup_steps``, at most ``max_warmup_share`` of the run."""
        c = self.config
        return warmup_length(c.warmup_steps, self.total_steps, c.max_warmup_share)

    def fit_schedule_to_minutes(self) -> None:
        """With a minute budget, end the schedule at the step the minutes are expected to run
        out, at the step rate measured since :attr:`rate_mark` (then move the mark).

        Called after the first steps and after every epoch; a run over ``max_steps`` or
        ``max_epochs`` keeps the schedule it started with.
        """
        minutes = self.config.max_minutes
        mark_step, mark_elapsed = self.rate_mark
        steps = self.step - mark_step
        if minutes is None or steps < 1:
            return
        rate = (self.elapsed - mark_elapsed) / steps
        left = max(0.0, 60.0 * minutes - self.elapsed)
        cap = self.config.max_steps or self.steps_per_epoch * self.config.max_epochs
        fitted = min(cap, self.step + int(left / max(rate, 1e-9)))
        if fitted != self.total_steps:
            log.debug("schedule fitted to %.3g min: %d steps", minutes, fitted)
        self.total_steps = max(fitted, self.step + 1)
        self.rate_mark = (self.step, self.elapsed)
        self.rate_fitted = True

    def out_of_budget(self) -> bool:
        c = self.config
        if c.max_steps is not None and self.step >= c.max_steps:
            return True
        if c.stop_after_steps is not None and self.step >= c.stop_after_steps:
            return True
        return c.max_minutes is not None and self.elapsed >= 60.0 * c.max_minutes

    def check_learned(self) -> None:
        """Raise unless some step of the run has had a finite loss: the model would be the
        untrained (or initial) one, and its score no result of this run.

        Raises:
            TrainingDiverged: every step's loss or gradient was NaN/inf.
            UserError: no batch could be trained on (every utterance skipped).
        """
        if self.step > 0:
            return
        if self.nonfinite_total:
            raise TrainingDiverged(
                f"no step of the run had a finite loss ({self.nonfinite_total} non-finite, "
                f"none finite): nothing was learned, so nothing is scored or kept as best.pt. "
                f"Lower lr (now {self.config.lr}) or check the data"
            )
        counts = Counter(self.dataset.skipped.values())
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
        raise UserError(
            f"{self.config.train_manifest}: no batch could be trained on "
            f"(skipped: {reasons or 'none'})"
        )

    def score_dev(self) -> dict[str, Any]:
        """WER, CER and utterances scored on the dev set, and with several languages in it,
        ``languages``: each one's WER and CER.

        Raises:
            NothingToScore: no dev utterance could be scored; the message names the manifest.
        """
        self.check_learned()
        try:
            dev = evaluate_model(
                self.model, self.tokenizer, self.dev_utts, name="dev", rtf_utterances=0
            )
        except NothingToScore as e:
            raise NothingToScore(f"dev set {self.config.dev_manifest}", e.why) from e
        scores: dict[str, Any] = {"wer": dev.wer, "cer": dev.cer, "utterances": dev.utterances}
        if len(dev.languages) > 1:
            scores["languages"] = {
                language: {"wer": x["wer"], "cer": x["cer"]}
                for language, x in dev.languages.items()
            }
        return scores

    def no_progress(self) -> bool:
        """The dev score has not improved for ``early_stop_patience`` scorings."""
        patience = self.config.early_stop_patience
        return patience is not None and self.scorings_since_best >= patience

    def train_step(self, indices: list[int]) -> float | None:
        """One optimiser step on a batch; returns its loss, or None if nothing was learned."""
        batch = self.dataset.batch(indices, self.epoch)
        if batch is None:
            return None
        batch = batch.to(self.device)
        lr = warmup_cosine(
            self.step, peak=self.config.lr, warmup=self.warmup_steps, total=self.total_steps
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        augment = self.aug_rng if self.step >= self.config.specaugment_after_steps else None
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            loss = self.model(
                batch.wave,
                batch.wave_lens,
                batch.targets,
                batch.target_lens,
                augment,
                inter_ctc=self.inter_ctc,
            )
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            finite = bool(torch.isfinite(norm))
        if not finite:
            self.nonfinite_run += 1
            self.nonfinite_total += 1
            log.warning("non-finite loss or gradient at step %d: step skipped", self.step)
            if self.nonfinite_run >= self.config.max_nonfinite_steps:
                raise TrainingDiverged(
                    f"{self.nonfinite_run} non-finite losses in a row at step {self.step}; "
                    f"lower lr (now {self.config.lr}) or check the data. "
                    f"Last good checkpoint: {self.out / 'last.pt'}"
                )
            return None
        self.optimizer.step()
        self.step += 1
        self.nonfinite_run = 0
        return float(loss.item())

    def run_epoch(self, bar: Progress) -> tuple[list[float], bool]:
        """Train through this epoch's batches; returns (the loss of every step taken,
        finished the epoch)."""
        batches = self.sampler.batches(self.epoch)
        task = bar.add_task("train", total=len(batches), epoch=self.epoch + 1, loss="-")
        bar.advance(task, self.batch_in_epoch)
        self.model.train()
        losses: list[float] = []
        finished = True
        for indices in batches[self.batch_in_epoch :]:
            if self.out_of_budget():
                finished = False
                break
            start = time.perf_counter()
            loss = self.train_step(indices)
            self.elapsed += time.perf_counter() - start
            self.batch_in_epoch += 1
            if not self.rate_fitted and self.step - self.rate_mark[0] >= _RATE_STEPS:
                self.fit_schedule_to_minutes()
            if loss is not None:
                losses.append(loss)
                bar.update(task, loss=f"{sum(losses) / len(losses):.3f}")
            bar.advance(task)
        bar.remove_task(task)
        return losses, finished

    def end_epoch(self, losses: list[float], *, complete: bool = True) -> None:
        """Advance the epoch counter, score dev when due, checkpoint, append to the history
        (``train_loss``: the mean of ``losses``, the steps' losses, also kept in the record as
        ``step_losses``; after a resume inside an epoch, those of the steps since).

        ``complete=False``: the budget ran out inside the epoch. The counters stay where they
        are (a resume continues the epoch), and dev is scored on what was learned, so a run
        cut short by its time budget still ends with a score (``epoch`` is then fractional).
        """
        train_loss = sum(losses) / len(losses) if losses else float("nan")
        if complete:
            self.epoch += 1
            self.batch_in_epoch = 0
            self.fit_schedule_to_minutes()
        done = self.epoch + self.batch_in_epoch / max(1, self.steps_per_epoch)
        record: dict[str, Any] = {
            "epoch": self.epoch if complete else round(done, 3),
            "step": self.step,
            "train_loss": train_loss,
            "train_seconds": round(self.elapsed, 2),
            "step_losses": [round(x, 4) for x in losses],
        }
        last_epoch = self.epoch >= self.config.max_epochs or self.out_of_budget()
        if self.dev_utts and (self.epoch % self.config.eval_every == 0 or last_epoch):
            self.last_dev = self.score_dev()
            record.update(dev_wer=self.last_dev["wer"], dev_cer=self.last_dev["cer"])
            if "languages" in self.last_dev:
                record["dev_languages"] = self.last_dev["languages"]
            score = self.last_dev[self.config.select_metric]
            if self.best_dev is None or score < self.best_dev:
                self.best_dev = score
                self.scorings_since_best = 0
                save_checkpoint(self.out / "best.pt", self.state())
            else:
                self.scorings_since_best += 1
        save_checkpoint(self.out / "last.pt", self.state())
        with (self.out / "history.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        dev_text = (
            f" dev WER {record['dev_wer']:.3f} CER {record['dev_cer']:.3f}"
            if "dev_wer" in record
            else ""
        )
        log.info(
            "epoch %s step %d loss %.3f%s (%.0f s)",
            record["epoch"],
            self.step,
            train_loss,
            dev_text,
            self.elapsed,
        )


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} batches"),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def train(
    config: TrainConfig,
    *,
    resume: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``config.arch`` on ``config.train_manifest``; see the module docstring.

    Args:
        config: the run.
        resume: a checkpoint to continue from (``last.pt`` of an earlier run of this config;
            only the keys in :data:`RESUMABLE_CHANGES` may differ).
        overwrite: start afresh in an ``out_dir`` that holds an earlier run, deleting its
            checkpoints and history.
        progress: show a progress bar on stderr.

    Raises:
        UserError: a missing manifest, an empty training set (or one whose every utterance is
            skipped), a bad or mismatched checkpoint, an ``out_dir`` holding another run.
        NothingToScore: the dev set has no utterance that can be scored.
        TrainingDiverged: ``config.max_nonfinite_steps`` non-finite losses in a row, or no
            finite loss in the whole run.
    """
    # One training at a time per out_dir: two would write one history and one best.pt.
    with exclusive(Path(config.out_dir), "training"):
        return _train(config, resume=resume, overwrite=overwrite, progress=progress)


def _train(
    config: TrainConfig, *, resume: str | Path | None, overwrite: bool, progress: bool
) -> TrainResult:
    ckpt: dict[str, Any] = load_checkpoint(resume) if resume is not None else {}
    if ckpt:
        changed = config_changes(ckpt.get("config", {}), config)
        if changed or ArchSpec.from_dict(ckpt["arch"]) != config.arch:
            raise UserError(
                f"{resume} was trained with another config (differs in {changed or ['arch']}); "
                "only these may change on resume: " + ", ".join(sorted(RESUMABLE_CHANGES))
            )
    out = _start_run_dir(config, resuming=bool(ckpt), overwrite=overwrite)
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.threads:
            torch.set_num_threads(config.threads)
        try:
            run = _Run(config, out, ckpt)
            log.info(
                "training %s: %d params, %d utterances (%.2f h), %d steps/epoch, "
                "tokenizer %s (%d)",
                config.arch.arch_id,
                run.model.num_params(),
                len(run.train_utts),
                total_hours(run.train_utts),
                run.steps_per_epoch,
                config.tokenizer,
                run.tokenizer.vocab_size,
            )
            stopped = early = run.no_progress()
            simulated = simulate_int8(run.model) if config.simulate_int8 else nullcontext()
            with _progress(progress) as bar, simulated:
                while run.epoch < config.max_epochs and not (stopped or early):
                    losses, finished = run.run_epoch(bar)
                    run.end_epoch(losses, complete=finished)
                    stopped = run.out_of_budget()
                    early = run.no_progress()
            if early:
                log.info(
                    "stopped early: dev %s did not improve in %d scorings",
                    config.select_metric.upper(),
                    run.scorings_since_best,
                )
            run.check_learned()
            if not (out / "last.pt").exists():
                save_checkpoint(out / "last.pt", run.state())
        finally:
            torch.set_num_threads(threads)
    if run.dataset.skipped:
        counts = Counter(run.dataset.skipped.values())
        log.warning(
            "skipped %d utterance(s) that could not be used (%s)",
            len(run.dataset.skipped),
            ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items())),
        )
    log.info("trained %d steps in %.1f s", run.step, run.elapsed)
    return TrainResult(
        out_dir=out,
        steps=run.step,
        epochs=run.epoch,
        train_seconds=run.elapsed,
        num_params=run.model.num_params(),
        best_dev_score=run.best_dev,
        last_dev=run.last_dev,
        skipped=dict(run.dataset.skipped),
        nonfinite_steps=run.nonfinite_total,
        stopped_by_budget=stopped and run.epoch < config.max_epochs,
        stopped_early=early and run.epoch < config.max_epochs,
    )
