"""A text-to-speech search's trials: the same claiming, copying, constraints and database as
a recogniser search (:class:`~speechnas.search.evaluation.TrialEvaluator`), with a TTS
model's cheap checks and fidelity ladder.

For each trial (:class:`TTSTrialEvaluator`):

1. cheap measurements on the untrained model: ``params``, and ``latency_ms``: the CPU time
   of synthesising the longest held-out sentence (batch 1, ``tts.threads`` threads), its
   frames set by its recorded durations so an untrained duration predictor does not change
   the work; ``rtf`` is that time per second of the sentence's recorded audio. A trial over
   ``constraints.max_params`` or ``max_latency_ms`` is recorded as pruned, untrained;
2. the ladder: each rung trains its ``steps`` on its ``fraction`` of the training sentences
   (nested: a smaller fraction's are among a larger one's), from the previous rung's
   weights with a warm-up and cosine schedule of its own, then scores the held-out
   sentences from their text alone (``mcd_db``, ``mel_l1``, ``length_error``) and reports
   ``mcd_db`` to the fidelity twin, whose pruner may stop the trial there;
3. at the last rung, the independent recogniser hears the first ``tts.intelligibility``
   held-out sentences through Griffin-Lim (``intelligibility_cer``).

Every rung's model is saved (``trials/NNNN/rungK.pt``, read by
:func:`~speechnas.tts.train.load_tts_checkpoint`); the trial's ``checkpoint`` is its last one,
which the report's listening page plays.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from speechnas.arch.kinds import Spec, as_tts
from speechnas.arch.tts import TTSSpec
from speechnas.errors import UserError
from speechnas.evaluate.intelligibility import IndependentRecognizer
from speechnas.models.tts import AcousticModel, build_tts_model
from speechnas.search.config import SearchConfig, TTSTask
from speechnas.search.evaluation import TrialEvaluator, objective_values
from speechnas.search.record import write_attrs
from speechnas.search.store import SearchStore
from speechnas.space import TTSEncoding
from speechnas.timing import threads, time_calls
from speechnas.tts.corpus import TTS_FRONTEND, TTSCorpus, TTSUtterance, variance_stats
from speechnas.tts.score import score_tts
from speechnas.tts.train import MelNorm, TTSTrainSettings, train_tts

__all__ = ["TTSTrialEvaluator", "tts_task"]

log = logging.getLogger(__name__)


def tts_task(config: SearchConfig) -> TTSTask:
    """``config``'s TTS task.

    Raises:
        UserError: ``config`` is a recogniser search.
    """
    if config.tts is None:
        raise UserError(f"search {config.name!r} is not a TTS search (it has no tts section)")
    return config.tts


@dataclass
class _Ladder:
    """How far a trial got up the ladder."""

    rung: int = -1
    pruned: bool = False
    scores: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None
    train_seconds: float = 0.0


class TTSTrialEvaluator(TrialEvaluator):
    """One process's part of a TTS search (module docstring).

    It shares the recogniser evaluator's claiming, copying of finished architectures,
    constraint values and recording (:meth:`next_trial`, :meth:`run_trial`), and brings
    its own data (the prepared corpus, split by the search's seed), cheap checks
    (:meth:`check`) and ladder; the recogniser's manifests, tokenizer, latency and memory
    tables are not set up.

    Raises:
        UserError: a missing or damaged corpus, or one too small for ``tts.held_out``.
    """

    def __init__(self, config: SearchConfig, store: SearchStore) -> None:
        # The recogniser evaluator's set-up (manifests, tokenizer, tables) is not this one's.
        task = tts_task(config)
        self.config = config
        self.store = store
        self.task = task
        self.encoding = TTSEncoding(task.space)
        self.latency_memo = None
        if not Path(task.corpus).is_file():
            raise UserError(
                f"tts.corpus {task.corpus}: no such file (prepare one with speechnas tts prepare)"
            )
        corpus = TTSCorpus.load(task.corpus)
        if task.held_out >= len(corpus):
            raise UserError(
                f"tts.held_out={task.held_out} leaves no training sentence of the "
                f"{len(corpus)} in {task.corpus}"
            )
        self.corpus = corpus
        self.vocab_size = corpus.tokenizer.vocab_size
        self.train_set, self.held_out = corpus.split(task.held_out, seed=config.seed)
        self.stats = variance_stats(self.train_set)
        self.norm = MelNorm.of(self.train_set)
        self.sentence = max(self.held_out, key=lambda u: len(u.tokens))
        self._recognizer: IndependentRecognizer | None = None

    def recognizer(self) -> IndependentRecognizer:
        """The independent recogniser, loaded once."""
        if self._recognizer is None:
            self._recognizer = IndependentRecognizer()
        return self._recognizer

    def _latency_ms(self, model: AcousticModel, sentence: TTSUtterance) -> float:
        tokens = torch.tensor([list(sentence.tokens)])
        lens = torch.tensor([len(sentence.tokens)])
        durations = torch.tensor([list(sentence.durations)])
        call = functools.partial(model, tokens, lens, durations)
        config = self.config
        with torch.no_grad(), threads(self.task.threads):
            timing = time_calls(
                call, warmup=1, repeats=config.latency_repeats, blocks=config.latency_blocks
            )
        return 1e3 * timing.median_s

    def check(self, spec: Spec) -> tuple[dict[str, float], str | None]:
        """Parameters, latency and RTF of the untrained model (module docstring), and why
        they break a limit (``None``: within)."""
        tts = as_tts(spec)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            model = build_tts_model(tts, self.vocab_size).eval()
        audio_s = (
            self.sentence.mel.shape[0] * TTS_FRONTEND["hop_length"] / TTS_FRONTEND["sample_rate"]
        )
        latency_ms = self._latency_ms(model, self.sentence)
        metrics = {
            "params": float(sum(p.numel() for p in model.parameters())),
            "latency_ms": latency_ms,
            "rtf": latency_ms / 1000.0 / audio_s,
        }
        broken = self.config.constraints.violations(metrics)
        return metrics, ("constraint: " + "; ".join(broken)) if broken else None

    def _ladder(self, spec: TTSSpec, twin: optuna.Trial, out_dir: Path) -> _Ladder:
        config, task = self.config, self.task
        fid = config.fidelity
        out = _Ladder()
        initial: dict[str, torch.Tensor] | None = None
        steps = 0
        out_dir.mkdir(parents=True, exist_ok=True)
        for k, rung in enumerate(fid.rungs):
            last = k == len(fid.rungs) - 1
            assert rung.steps is not None  # a TTS rung's budget is steps (the config's check)
            n = max(1, math.ceil(rung.fraction * len(self.train_set)))
            settings = TTSTrainSettings(
                steps=rung.steps,
                batch_frames=task.batch_frames,
                lr=task.lr,
                warmup_steps=task.warmup_steps,
                seed=config.seed + k,
                threads=task.threads,
            )
            result = train_tts(
                spec,
                self.train_set[:n],
                vocab_size=self.vocab_size,
                stats=self.stats,
                settings=settings,
                initial=initial,
                norm=self.norm,
            )
            out.train_seconds += result.seconds
            with threads(task.threads):
                scores = score_tts(
                    result.model,
                    self.norm,
                    self.held_out,
                    intelligibility_count=task.intelligibility if last else 0,
                    recognizer=self.recognizer() if last and task.intelligibility else None,
                    floor=False,
                )
            out.rung, out.scores = (
                k,
                {
                    "mcd_db": scores.mcd_db,
                    "mel_l1": scores.mel_l1,
                    "length_error": scores.length_error,
                },
            )
            if scores.cer is not None:
                out.scores["intelligibility_cer"] = scores.cer
            for row in result.curve:
                out.curve.append(
                    {"rung": k, "step": steps + int(row["step"]), "loss": row["loss"]}
                )
            steps += result.steps
            out.curve.append(
                {"rung": k, "step": steps, **out.scores, "train_seconds": out.train_seconds}
            )
            out.checkpoint = out_dir / f"rung{k}.pt"
            torch.save(result.state(self.corpus.tokenizer.to_state()), out.checkpoint)
            twin.report(scores.mcd_db, step=fid.reduction_factor**k)
            if not last and twin.should_prune():
                out.pruned = True
                return out
            initial = result.model.state_dict()
        return out

    def _evaluate(self, trial: optuna.Trial, spec: Spec, start: float) -> None:
        tts = as_tts(spec)
        config, store = self.config, self.store
        checked = self._checked_twin(trial, tts, start)
        if checked is None:
            return
        metrics, twin = checked
        out_dir = config.run_dir / "trials" / f"{trial.number:04d}"
        ladder = self._trained(trial, twin, tts, start, lambda: self._ladder(tts, twin, out_dir))
        if ladder is None:
            return
        metrics = {**metrics, **ladder.scores}
        self._constrain(trial, metrics)
        known = all(o in metrics for o in config.objectives)
        values = objective_values(metrics, config) if known else None
        write_attrs(
            trial.set_user_attr,
            metrics=metrics,
            rung=ladder.rung,
            curve=ladder.curve,
            checkpoint=None if ladder.checkpoint is None else str(ladder.checkpoint),
            train_seconds=ladder.train_seconds,
            wall_seconds=time.perf_counter() - start,
        )
        if ladder.pruned:
            write_attrs(
                trial.set_user_attr, values=values, reason=f"stopped at rung {ladder.rung}"
            )
            store.tell(twin, state=TrialState.PRUNED, study=store.fidelity)
            store.tell(trial, state=TrialState.PRUNED)
        else:
            store.tell(twin, metrics["mcd_db"], study=store.fidelity)
            store.tell(trial, values)
        log.info(
            "trial %d: rung %d, held-out MCD %.2f dB, latency %.0f ms%s",
            trial.number,
            ladder.rung,
            metrics["mcd_db"],
            metrics["latency_ms"],
            " (stopped)" if ladder.pruned else "",
        )
