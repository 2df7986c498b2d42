"""Building a reference table: which architectures, one training run, one cost measurement.

:func:`stratified_specs` draws the architectures, the same ones for the same space, count
and seed: architecture ``i`` is of family ``i mod F`` and of a depth that rotates with both
``i`` and its family, so every (family, depth) pair is drawn before any is drawn twice; within
its stratum it is uniform over the space's architectures (redrawn above ``max_params``, or
when already drawn). :func:`train_run` trains one of them with one seed and returns the run
as a table stores it; :func:`measure_costs` measures what it costs to run. The driver that
writes a table file, resumably, is ``benchmarks/reference_table.py``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from speechnas.arch import ArchSpec
from speechnas.data.manifest import read_manifest
from speechnas.data.usable import tokenizer_texts
from speechnas.hardware.cheap import cheap_metrics
from speechnas.hardware.measure import untrained_model
from speechnas.reports.curves import read_history
from speechnas.space import SpeechSpace
from speechnas.text import build_tokenizer
from speechnas.train import TrainConfig, train

__all__ = ["char_vocab_size", "measure_costs", "stratified_specs", "train_run"]

#: Draws per architecture before a stratum is given up as holding none under ``max_params``.
MAX_DRAWS = 200


def stratified_specs(
    space: SpeechSpace,
    count: int,
    *,
    seed: int,
    max_params: float,
    vocab_size: int,
) -> list[tuple[str, int, ArchSpec]]:
    """``count`` distinct architectures of ``space`` as ``(family, depth, spec)``, stratified
    by encoder family and depth (see the module docstring); each has at most ``max_params``
    parameters with a ``vocab_size`` output.

    Raises:
        ValueError: a stratum holds no new architecture within the parameter limit.
    """
    families = space.encoders
    depths = list(range(space.min_layers, space.max_layers + 1))
    seen: set[str] = set()
    out: list[tuple[str, int, ArchSpec]] = []
    for i in range(count):
        family = families[i % len(families)]
        depth = depths[(i // len(families) + i % len(families)) % len(depths)]
        stratum = dataclasses.replace(
            space, encoders=(family,), min_layers=depth, max_layers=depth
        )
        rng = np.random.default_rng([seed, i])
        for _ in range(MAX_DRAWS):
            spec = stratum.sample(rng)
            if spec.arch_id in seen:
                continue
            if untrained_model(spec, vocab_size).num_params() <= max_params:
                break
        else:
            raise ValueError(
                f"no new {family} architecture of {depth} layers with at most "
                f"{max_params:g} parameters in {MAX_DRAWS} draws"
            )
        seen.add(spec.arch_id)
        out.append((family, depth, spec))
    return out


def char_vocab_size(train_manifest: str | Path) -> int:
    """The size of the character vocabulary a training on ``train_manifest`` builds."""
    utts = read_manifest(train_manifest)
    return build_tokenizer("char", tokenizer_texts(utts)).vocab_size


def train_run(
    spec: ArchSpec,
    seed: int,
    *,
    train_manifest: str | Path,
    dev_manifest: str | Path,
    out_dir: str | Path,
    recipe: dict[str, Any],
    step_loss_epochs: int = 1,
) -> dict[str, Any]:
    """Train ``spec`` from scratch with ``seed`` and ``recipe`` (TrainConfig values: the
    budget, threads, settings; dev scored by CER after every epoch) in ``out_dir``, starting
    over whatever a killed run left there. The run as a table stores it: its curve, the
    per-step losses of the first ``step_loss_epochs`` epochs, its CPU-seconds (training and
    scoring, every thread) and the wall-seconds of its optimiser steps."""
    config = TrainConfig(
        train_manifest=str(train_manifest),
        dev_manifest=str(dev_manifest),
        out_dir=str(out_dir),
        arch=spec,
        eval_every=1,
        select_metric="cer",
        seed=seed,
        **recipe,
    )
    cpu = time.process_time()
    result = train(config, overwrite=True, progress=False)
    cpu_seconds = time.process_time() - cpu
    history = read_history(Path(out_dir) / "history.jsonl")
    keys = ("epoch", "step", "train_loss", "dev_cer", "dev_wer", "train_seconds")
    return {
        "arch_id": spec.arch_id,
        "seed": seed,
        "curve": [{k: h[k] for k in keys} for h in history if "dev_cer" in h],
        "step_losses": [x for h in history[:step_loss_epochs] for x in h["step_losses"]],
        "cpu_seconds": round(cpu_seconds, 2),
        "train_seconds": round(result.train_seconds, 2),
    }


def measure_costs(spec: ArchSpec, *, vocab_size: int, threads: int = 1) -> dict[str, float]:
    """``params``, ``macs`` (per audio second), ``memory_mb``, and the median ``latency_ms``
    and ``rtf`` of a 5 s utterance on this CPU at ``threads`` threads (20 timed repeats)."""
    metrics = cheap_metrics(spec, vocab_size=vocab_size, repeats=20, threads=threads)
    keep = ("params", "macs", "memory_mb", "latency_ms", "rtf")
    return {name: metrics[name] for name in keep}
