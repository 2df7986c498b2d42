"""``SearchConfig``: a whole search as one frozen dataclass, read from YAML.

Example ``search.yaml``::

    name: so762
    data:
      train_manifest: runs/data/train.jsonl.gz
      dev_manifest: runs/data/dev.jsonl.gz
      test_manifests: {test: runs/data/test.jsonl.gz}
    space: {encoders: [conformer, cnn, lstm], max_layers: 6, widths: [96, 144, 192]}
    strategy: evolution
    n_trials: 40
    objectives: [wer, latency_ms]
    constraints: {max_params: 5000000}
    fidelity:
      rungs: [{fraction: 1, steps: 800}, {fraction: 1, steps: 2400}, {fraction: 1, steps: 7200}]
      pruner: successive_halving

A text-to-speech search has a ``tts:`` section (:class:`TTSTask`: the prepared corpus, the
TTS space, training settings) instead of ``data:``, TTS objectives and rungs in steps::

    name: tts-lj
    tts: {corpus: runs/tts/ljspeech/corpus.pt, held_out: 25, intelligibility: 10}
    strategy: tpe
    n_trials: 12
    objectives: [mcd_db, latency_ms]
    fidelity: {rungs: [{fraction: 1, steps: 200}, {fraction: 1, steps: 600}]}

Unknown keys anywhere are errors that name the key and list the known ones; every number is
checked against its field's range (:func:`~speechnas._config_io.bounded`) as the file is read,
before any work starts.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from speechnas._config_io import (
    MAX_SEED,
    FieldError,
    bounded,
    check_bounds,
    dataclass_from_mapping,
    internal,
    read_yaml,
)
from speechnas.errors import ConfigError
from speechnas.presets import PRESETS
from speechnas.search.objectives import OBJECTIVES, TTS_OBJECTIVES
from speechnas.space import SpeechSpace, TTSSpace
from speechnas.train.settings import TrainSettings

__all__ = [
    "Constraints",
    "DataConfig",
    "FidelityConfig",
    "FinalConfig",
    "ParallelConfig",
    "Rung",
    "SearchConfig",
    "TTSTask",
    "TrialResources",
    "load_run_config",
    "load_search_config",
    "search_config_from_dict",
]

#: A run's folder name: one path component that stays inside ``out_root`` (no ``..``).
_FOLDER_NAME = re.compile(r"[\w-][\w.-]*")
_FOLDER_NAME_RULE = "a folder name: letters, digits, '_', '-' and '.', not starting with '.'"


@dataclass(frozen=True)
class DataConfig:
    """Manifests: trials train on ``train``, are scored on ``dev``; the final stage is also
    evaluated on every ``test_manifests`` entry (name -> manifest)."""

    train_manifest: str
    dev_manifest: str
    test_manifests: dict[str, str] = field(default_factory=dict)


#: Objectives only a TTS search has.
_TTS_ONLY = ("mcd_db", "mel_l1", "length_error", "intelligibility_cer")


@dataclass(frozen=True)
class TTSTask:
    """A text-to-speech search: its data, space and training (``tts:``).

    Attributes:
        corpus: a prepared corpus (``speechnas tts prepare``'s ``corpus.pt``: durations,
            pitch and energy aligned offline).
        held_out: sentences drawn (by the search's seed) to score on, never trained on.
        intelligibility: of those, how many the independent recogniser hears at a trial's
            last rung (``intelligibility_cer``; 0: none, and the objective is unavailable).
        space: the TTS space (keys of :class:`~speechnas.space.TTSSpace`); its text units
            must be the corpus's (``char``).
        batch_frames, lr, warmup_steps: training (:class:`~speechnas.tts.train.TTSTrainSettings`;
            each rung trains its ``steps`` with a warm-up and cosine schedule of its own,
            from the previous rung's weights).
        threads: torch threads of training and latency (``None``: torch's default).
    """

    corpus: str
    held_out: int = bounded(25, ge=1)
    intelligibility: int = bounded(10, ge=0)
    space: TTSSpace = field(default_factory=TTSSpace)
    batch_frames: int = bounded(6000, ge=1)
    lr: float = bounded(1e-3, gt=0)
    warmup_steps: int = bounded(300, ge=0)
    threads: int | None = bounded(None, ge=1)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.space.text_units != "char":
            raise ValueError(
                f"space.text_units={self.space.text_units!r}: a prepared corpus holds "
                "characters (its aligner's); set tts.space.text_units: char"
            )


@dataclass(frozen=True)
class Rung:
    """One step of the fidelity ladder: train on ``fraction`` of the training set
    (continuing from the previous rung's weights, with a learning-rate schedule of its own
    over the rung) until the first of its budgets runs out: ``epochs`` epochs, ``steps``
    optimiser steps, ``max_minutes`` of training time. At least one budget is needed.

    A budget in steps gives every architecture the same number of updates, whatever the
    machine's speed (so the same seed gives the same scores); in minutes, the same compute,
    which favours the cheaper architectures and depends on the machine.
    """

    fraction: float = bounded(gt=0, le=1)
    epochs: int | None = bounded(None, ge=1)
    max_minutes: float | None = bounded(None, gt=0)
    steps: int | None = bounded(None, ge=1)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.epochs is None and self.steps is None and self.max_minutes is None:
            raise ValueError("a rung needs a budget: set epochs, steps or max_minutes")

    @property
    def label(self) -> str:
        """The rung in a ladder's signature: ``0.3x5``, ``1<600steps``, ``1x100<2min``."""
        out = f"{self.fraction:g}" + (f"x{self.epochs}" if self.epochs else "")
        out += f"<{self.steps}steps" if self.steps else ""
        return out + (f"<{self.max_minutes:g}min" if self.max_minutes else "")


@dataclass(frozen=True)
class FidelityConfig:
    """The multi-fidelity ladder and the pruner that decides promotions between rungs.

    Attributes:
        rungs: increasing fidelities; a trial that is not stopped runs all of them. The
            default gives every architecture 800 optimiser steps before the first cut:
            about what a small Conformer-CTC needs to leave the CTC blank plateau with the
            default recipe (BENCHMARKS.md "Recipe study"); with fewer, the pruner ranks
            which model leaves it first rather than which is better.
        pruner: ``successive_halving``, ``hyperband``, ``median`` or ``none`` (Optuna's), or
            ``predicted_front``: stop a trial whose final (WER, CER) predicted from its
            curve so far, less the predictor's error, still leaves its objective point
            dominated by a completed trial's (:mod:`speechnas.search.front_stop`; every
            rung's budget in steps).
        reduction_factor: keep the best 1/``reduction_factor`` at each rung.
        min_trials: trials that must reach a rung before the pruner may stop anything there.
        early_stop_patience: within a rung, stop after this many epochs without a better
            dev score (``None``: never).
        metric: the dev score the pruner and early stopping judge by (``wer``, or ``cer``,
            which separates young models whose WER is still near 100%).
        dev_utterances: score trials on this many dev utterances (a seeded sample) instead of
            all of them; the final stage always uses the whole dev set.
        prediction_margin: the least error ``predicted_front`` grants its predictions (an
            absolute error rate; the study's measured error replaces it when larger).
    """

    rungs: tuple[Rung, ...] = (Rung(1.0, steps=800), Rung(1.0, steps=2400), Rung(1.0, steps=7200))
    pruner: Literal["successive_halving", "hyperband", "median", "none", "predicted_front"] = (
        "successive_halving"
    )
    reduction_factor: int = bounded(3, ge=2)
    min_trials: int = bounded(3, ge=1)
    early_stop_patience: int | None = bounded(3, ge=1)
    metric: Literal["wer", "cer"] = "wer"
    dev_utterances: int | None = bounded(None, ge=1)
    prediction_margin: float = bounded(0.05, ge=0.0)

    def __post_init__(self) -> None:
        check_bounds(self)
        if not self.rungs:
            raise ValueError("fidelity.rungs is empty; give at least one rung")
        if self.pruner == "predicted_front" and any(r.steps is None for r in self.rungs):
            raise ValueError(
                "fidelity.pruner predicted_front extrapolates over optimiser steps: give "
                "every rung a budget in steps"
            )
        fractions = [r.fraction for r in self.rungs]
        if fractions != sorted(fractions):
            raise ValueError(f"fidelity.rungs: fractions must not decrease, got {fractions}")

    @property
    def signature(self) -> str:
        """Identifies the ladder: results at one ladder are reused only for the same one."""
        ladder = "/".join(r.label for r in self.rungs)
        return ladder if self.dev_utterances is None else f"{ladder}@dev{self.dev_utterances}"


@dataclass(frozen=True)
class Constraints:
    """Hard limits; ``None``: no limit. Those on cheap measurements (latency, params,
    memory, MACs; what a streaming model waits for and computes per chunk, as the objectives
    of the same names, :mod:`~speechnas.search.objectives`) are checked before any
    training; those on the dev CER of the languages of the dev set (``max_mean_cer``,
    ``max_worst_cer``: the mean, and the worst, of the languages' CER, fractions in
    ``(0, 1]``; with one language, its CER) once the trial has trained the whole ladder, and
    a trial over one is stopped."""

    max_latency_ms: float | None = bounded(None, gt=0)
    max_params: int | None = bounded(None, ge=1)
    max_memory_mb: float | None = bounded(None, gt=0)
    max_macs: float | None = bounded(None, gt=0)
    max_algorithmic_latency_ms: float | None = bounded(None, gt=0)
    max_lookahead_ms: float | None = bounded(None, ge=0)
    max_chunk_latency_ms: float | None = bounded(None, gt=0)
    max_energy_j: float | None = bounded(None, gt=0)
    max_mean_cer: float | None = bounded(None, gt=0, le=1)
    max_worst_cer: float | None = bounded(None, gt=0, le=1)

    def __post_init__(self) -> None:
        check_bounds(self)

    #: The metrics of the limits checked after training.
    TRAINED: ClassVar[tuple[str, ...]] = ("mean_cer", "worst_cer")

    def limits(self) -> dict[str, float]:
        """The limits that are set, by metric name."""
        limits = {
            "latency_ms": self.max_latency_ms,
            "params": self.max_params,
            "memory_mb": self.max_memory_mb,
            "macs": self.max_macs,
            "algorithmic_latency_ms": self.max_algorithmic_latency_ms,
            "lookahead_ms": self.max_lookahead_ms,
            "chunk_latency_ms": self.max_chunk_latency_ms,
            "energy_j": self.max_energy_j,
            "mean_cer": self.max_mean_cer,
            "worst_cer": self.max_worst_cer,
        }
        return {name: float(limit) for name, limit in limits.items() if limit is not None}

    def violations(self, metrics: dict[str, float]) -> list[str]:
        """Why ``metrics`` break the limits (empty when they do not); a limit on a metric
        that ``metrics`` lacks (a trained score, before training) is not checked."""
        return [
            f"{name} {metrics[name]:.4g} > {limit:.4g}"
            for name, limit in self.limits().items()
            if name in metrics and metrics[name] > limit
        ]

    def slack(self, metrics: dict[str, float]) -> dict[str, float]:
        """Per set limit, ``value / limit - 1`` (for a limit of 0: 1 over it, else 0): at
        most 0 where the limit holds (Optuna's constraint values). A metric that was not
        measured is read from its prediction (``predicted_<name>``, a trial pruned on
        predictions alone), else counts as 0."""
        out = {}
        for name, limit in self.limits().items():
            value = metrics.get(name, metrics.get(f"predicted_{name}"))
            if value is None:
                out[name] = 0.0
            elif limit > 0:
                out[name] = float(value) / limit - 1.0
            else:  # a limit of 0 (no look-ahead): over it counts as one limit's worth
                out[name] = 1.0 if float(value) > 0 else 0.0
        return out


@dataclass(frozen=True)
class HardwareConfig:
    """Latency and memory prediction before anything is measured or trained (isSafe pruning).

    Attributes:
        table: a latency table written by ``speechnas profile --export`` on the target.
        latency: where the ``latency_ms`` objective and constraint come from: ``measured``
            on this machine (the table then only prunes early), or ``predicted`` from the
            table (for a target other than this machine); ``chunk_latency_ms`` likewise, from
            the table's chunk-by-chunk records (a predicted search for streaming models
            needs them).
        memory_table: measured inference memory written by ``speechnas profile
            --export-memory``; with it, ``memory_mb`` is the fitted model's prediction
            instead of the analytic estimate, and specs predicted over
            ``constraints.max_memory_mb`` are pruned before they are built for measuring.
        target, threads: the target the search is for (a name of
            :data:`~speechnas.hardware.targets.TARGETS`, e.g. ``cpu-onnx``) and its thread
            count; a latency table profiled on another target or thread count is refused.
    """

    table: str | None = None
    latency: str = "measured"
    memory_table: str | None = None
    target: str | None = None
    threads: int | None = bounded(None, ge=1)

    def __post_init__(self) -> None:
        if self.latency not in ("measured", "predicted"):
            raise ValueError(f"latency={self.latency!r}; expected 'measured' or 'predicted'")
        if self.table is None and self.memory_table is None:
            raise ValueError("give a latency table, a memory_table or both")
        if self.table is None and self.latency == "predicted":
            raise ValueError("latency: predicted needs a latency table")
        check_bounds(self)
        if self.target is not None:
            from speechnas.hardware.targets import TARGETS

            if self.target not in TARGETS:
                raise ValueError(f"target={self.target!r}; expected one of {sorted(TARGETS)}")
        if (self.target is not None or self.threads is not None) and self.table is None:
            raise ValueError(
                "target and threads are claims a latency table is checked against: give a table"
            )


@dataclass(frozen=True)
class FinalConfig:
    """The final stage: retrain the best ``top_k`` of the front on all the training data.

    ``export``: precisions (``fp32``, ``int8``, ``fp16``) to export each retrained model
    in (``speechnas export``'s bundle, streamed variants included for a streaming
    architecture); every variant's size, latency and WER/CER are stored with the model's
    final result. Empty: no export.

    ``from_trial``: start each model from its trial's best weights (its last rung) instead
    of from scratch, so the search's training is not thrown away ("inherit, then
    fine-tune"); the model's result then counts the trial's training time in its budget.

    ``qat_threshold``: with ``int8`` exported, a model whose INT8 export loses more dev WER
    than this (a fraction: 0.02 is 2 points) is fine-tuned ``qat_epochs`` epochs with the
    export's rounding simulated (quantisation-aware training, a tenth of the recipe's
    learning rate) and exported again; its result keeps both. ``None``: never.
    """

    top_k: int = bounded(3, ge=0)
    epochs: int = bounded(20, ge=1)
    max_minutes: float | None = bounded(None, gt=0)
    export: tuple[str, ...] = ()
    from_trial: bool = False
    qat_threshold: float | None = bounded(None, ge=0)
    qat_epochs: int = bounded(2, ge=1)

    def __post_init__(self) -> None:
        from speechnas.export.quantize import PRECISIONS

        check_bounds(self)

        unknown = [p for p in self.export if p not in PRECISIONS]
        if unknown:
            raise ValueError(f"export={list(self.export)!r}; expected some of {list(PRECISIONS)}")
        if self.qat_threshold is not None and "int8" not in self.export:
            raise ValueError("qat_threshold compares the INT8 export: add int8 to export")


@dataclass(frozen=True)
class TrialResources:
    """What one trial asks of a Ray cluster: CPUs and GPUs, fractions allowed
    (``gpu: 0.5``: two trials share a GPU)."""

    cpu: float = bounded(1.0, gt=0)
    gpu: float = bounded(0.0, ge=0)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class ParallelConfig:
    """Where trials run and how many at once (``--executor``, ``--workers``, ``--ray``).

    Attributes:
        executor: ``local``: one trial at a time in the search's process (exactly
            reproducible); ``processes``: ``workers`` worker processes on this machine;
            ``ray``: each trial a Ray task on a Ray cluster.
        workers: trials at once (``None``: 1 for ``local``; this machine's cores over
            ``train.threads`` for ``processes``; what the cluster's CPUs (or GPUs) hold at
            ``trial_resources`` for ``ray``).
        ray_address: the cluster to join (``auto``, or the head's ``HOST:PORT``); ``None``
            starts Ray on this machine for the search.
        trial_resources: what each Ray task asks for.
    """

    executor: Literal["local", "processes", "ray"] = "local"
    workers: int | None = bounded(None, ge=1)
    ray_address: str | None = None
    trial_resources: TrialResources = field(default_factory=TrialResources)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.executor == "local" and (self.workers or 1) > 1:
            raise ValueError(
                f"parallel.workers={self.workers} with executor local, which runs one trial "
                "at a time; use executor processes (this machine) or ray (a cluster)"
            )
        if self.ray_address is not None and self.executor != "ray":
            raise ValueError(
                f"parallel.ray_address is set but the executor is {self.executor!r}; "
                "set executor: ray (or --ray ADDRESS)"
            )


@dataclass(frozen=True)
class SearchConfig:
    """A search.

    Attributes:
        name: the study name; results go to ``out_root/name``. A folder name: letters,
            digits, ``_``, ``-`` and ``.``, not starting with ``.``.
        data: manifests (a recogniser search).
        tts: a text-to-speech search's corpus, space and training instead (``data`` and
            ``space`` unused; see :attr:`task`).
        space: the space's choices (keys of :class:`~speechnas.space.SpeechSpace`).
        strategy: one of :data:`~speechnas.search.strategies.STRATEGIES`.
        strategy_options: strategy-specific settings.
        warm_start: preset names the ``transfer`` strategy starts from.
        n_trials: trials to finish (complete or stopped; failed ones are retried).
        seed: seeds proposals and training.
        objectives: what to minimise (:data:`~speechnas.search.objectives.OBJECTIVES`).
        latency_target_ms, latency_weight: when set, the first objective ``x`` is replaced by
            the scalarised ``x + latency_weight * |latency_ms - latency_target_ms| / 1000``.
        constraints: hard limits on cheap measurements, and on the languages' dev CER.
        hardware: a latency table and/or a memory table; specs predicted over
            ``constraints.max_latency_ms`` or ``max_memory_mb`` are pruned before they are
            even built for measuring.
        fidelity: the multi-fidelity ladder and pruner.
        train: training settings of every trial.
        final: the final retraining of the front.
        latency_seconds, latency_repeats, latency_blocks: what latency measures: the audio
            length, the timed calls per block and the blocks (the lowest block median:
            :func:`speechnas.timing.measure_latency`). A study begun before
            ``latency_blocks`` existed timed one block (resume it with ``latency_blocks:
            1`` and its ``latency_repeats``).
        reuse_latency: read back this machine's earlier measurement of an architecture's
            latency (same settings and software) instead of timing it again, so that the
            same seed and config give the same trials (:mod:`speechnas.hardware.memo`;
            ``$SPEECHNAS_CACHE_DIR``). ``false`` times every trial afresh.
        parallel: where trials run and how many at once (:class:`ParallelConfig`).
        storage: an SQLAlchemy URL (e.g. ``postgresql://...``); default SQLite in the run.
        out_root: where runs go.
        run_folder: the folder of a run read back from it (:func:`load_run_config`), which
            may have been moved or copied since; not a config key.
    """

    name: str
    data: DataConfig | None = None
    tts: TTSTask | None = None
    space: SpeechSpace = field(default_factory=SpeechSpace)
    strategy: str = "tpe"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    warm_start: tuple[str, ...] = ()
    n_trials: int = bounded(20, ge=1)
    seed: int = bounded(0, ge=0, le=MAX_SEED)
    objectives: tuple[str, ...] = ("wer", "latency_ms")
    latency_target_ms: float | None = bounded(None, gt=0)
    latency_weight: float = bounded(0.0, ge=0)
    constraints: Constraints = field(default_factory=Constraints)
    hardware: HardwareConfig | None = None
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    final: FinalConfig = field(default_factory=FinalConfig)
    latency_seconds: float = bounded(5.0, gt=0)
    latency_repeats: int = bounded(10, ge=1)
    latency_blocks: int = bounded(3, ge=1)
    reuse_latency: bool = True
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    storage: str | None = None
    out_root: str = "runs"
    run_folder: str | None = internal(None)

    def __post_init__(self) -> None:
        if not _FOLDER_NAME.fullmatch(self.name):
            raise FieldError("SearchConfig", "name", self.name, _FOLDER_NAME_RULE)
        check_bounds(self)
        if not self.objectives:
            raise ValueError("objectives is empty; give at least one")
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown:
            raise ValueError(f"objectives {unknown} are unknown; known: {sorted(OBJECTIVES)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives {list(self.objectives)} repeat one")
        if self.tts is None and self.data is None:
            raise ValueError("missing key 'data' (train_manifest, dev_manifest), or 'tts'")
        if self.tts is not None:
            self._check_tts(self.tts)
        else:
            tts_only = [o for o in self.objectives if o in _TTS_ONLY]
            if tts_only:
                raise ValueError(f"objectives {tts_only} score speech synthesis: set tts")
        unknown = [n for n in self.warm_start if n not in PRESETS]
        if unknown:
            raise ValueError(f"warm_start {unknown} are not presets; known: {sorted(PRESETS)}")
        if self.latency_target_ms is not None and self.latency_weight <= 0:
            raise ValueError("latency_target_ms needs latency_weight > 0")
        unpredicted = [
            o for o in self.objectives if not OBJECTIVES[o].cheap and o not in ("wer", "cer")
        ]
        if self.fidelity.pruner == "predicted_front" and unpredicted:
            raise ValueError(
                f"fidelity.pruner predicted_front predicts dev WER and CER, not {unpredicted}; "
                "use wer or cer as the objective, or another pruner"
            )

    def _check_tts(self, tts: TTSTask) -> None:
        asr = [o for o in self.objectives if o not in TTS_OBJECTIVES]
        if asr:
            raise ValueError(
                f"objectives {asr} are a recogniser's; a TTS search minimises "
                f"some of {list(TTS_OBJECTIVES)}"
            )
        if self.data is not None or self.space != SpeechSpace():
            raise ValueError("a TTS search reads tts.corpus and tts.space; remove data and space")
        if self.strategy in ("transfer", "supernet", "darts"):
            raise ValueError(f"strategy {self.strategy} searches recognisers only")
        if self.warm_start:
            raise ValueError("warm_start names recogniser presets; a TTS search has none")
        if "intelligibility_cer" in self.objectives and tts.intelligibility == 0:
            raise ValueError("objective intelligibility_cer needs tts.intelligibility > 0")
        unmeasured = sorted(set(self.constraints.limits()) - {"latency_ms", "params"})
        if unmeasured:
            raise ValueError(
                f"constraints on {unmeasured}: a TTS search measures latency_ms and params"
            )
        timed = [
            i
            for i, r in enumerate(self.fidelity.rungs)
            if r.steps is None or r.epochs or r.max_minutes
        ]
        if timed:
            raise ValueError(f"fidelity.rungs {timed}: a TTS rung's budget is steps only")

    @property
    def task(self) -> Literal["asr", "tts"]:
        """``tts`` for a text-to-speech search (``tts:`` set), else ``asr``."""
        return "asr" if self.tts is None else "tts"

    @property
    def manifests(self) -> DataConfig:
        """The recogniser search's manifests.

        Raises:
            ConfigError: a TTS search, which has none.
        """
        if self.data is None:
            raise ConfigError(f"search {self.name!r} is a TTS search: it has no manifests")
        return self.data

    @property
    def run_dir(self) -> Path:
        """The run's folder: ``out_root/name``, or where :func:`load_run_config` found it."""
        return Path(self.run_folder) if self.run_folder else Path(self.out_root) / self.name

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.run_dir / 'study.db').resolve()}"

    def to_dict(self) -> dict[str, Any]:
        """The config as saved with the run (where the run was found is not part of it)."""
        out = asdict(self)
        del out["run_folder"]
        return out


def load_search_config(
    path: str | os.PathLike[str], overrides: dict[str, Any] | None = None
) -> SearchConfig:
    """Read a YAML search config; ``overrides`` set top-level keys (``--set``)."""
    data = read_yaml(path)
    data.update(overrides or {})
    return search_config_from_dict(data, where=str(path))


def search_config_from_dict(data: dict[str, Any], where: str = "config") -> SearchConfig:
    if "data" not in data and "tts" not in data:
        raise ConfigError(f"{where}: missing key 'data' (train_manifest, dev_manifest)")
    if "name" not in data:
        raise ConfigError(f"{where}: missing key 'name'")
    return dataclass_from_mapping(SearchConfig, data, where)


def load_run_config(run_dir: str | os.PathLike[str]) -> SearchConfig:
    """The config a search in ``run_dir`` was started with (its ``config.yaml``), reading
    the run where it is now: its results, report and default database
    (``sqlite:///RUN/study.db``) come from ``run_dir``, wherever the run was first written.
    A database named explicitly (``storage``) elsewhere stays as it was.
    """
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no search run here (missing {path.name})")
    config = search_config_from_dict(read_yaml(path), where=str(path))
    # A storage given as the first location's default database is the default too.
    first_default = replace(config, storage=None).storage_url
    storage = None if config.storage == first_default else config.storage
    return replace(config, storage=storage, run_folder=str(run_dir))
