"""``ReferenceTable``: architectures trained to a stated budget with several seeds, read back.

A table is one JSON file (format :data:`FORMAT`): the recipe every run followed, the corpus
and its split, the space the architectures were drawn from, one entry per architecture (its
spec, family, depth and cost measurements: params, MACs per audio second, memory, measured
latency) and one run per architecture and seed (the dev WER/CER and mean training loss after
every epoch, the first epochs' per-step losses, and the run's CPU-seconds). The tables that
ship with speechnas are listed by :func:`shipped_tables`; their datasheets are in
BENCHMARKS.md "Reference table".

A table may be partial (a build still going on): :meth:`ReferenceTable.complete` names the
architectures every seed has finished, and scores are only read for those.

Example:
    >>> table = ReferenceTable.load()  # doctest: +SKIP
    >>> best = min(table.complete(), key=table.score)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speechnas.arch import ArchSpec
from speechnas.bench.rank import kendall_tau, spearman_rho
from speechnas.errors import UserError

__all__ = [
    "DEFAULT_TABLE",
    "FORMAT",
    "Epoch",
    "ReferenceEntry",
    "ReferenceRun",
    "ReferenceTable",
    "run_key",
    "shipped_tables",
]

#: The file format this module reads and :mod:`speechnas.bench.build` writes.
FORMAT = 1

#: Where the shipped tables are.
TABLES = Path(__file__).resolve().parent / "tables"

#: The table :meth:`ReferenceTable.load` reads when given no path.
DEFAULT_TABLE = "so762-ctc-v1"

METRICS = ("cer", "wer")


def shipped_tables() -> dict[str, Path]:
    """Name -> path of every table that ships with speechnas."""
    return {p.stem: p for p in sorted(TABLES.glob("*.json"))}


def run_key(arch_id: str, seed: int) -> str:
    """The key of one run in a table's ``runs``."""
    return f"{arch_id}|{seed}"


@dataclass(frozen=True)
class Epoch:
    """One point of a run's curve: after ``epoch`` epochs (``step`` optimiser steps)."""

    epoch: float
    step: int
    train_loss: float
    dev_cer: float
    dev_wer: float
    train_seconds: float

    def score(self, metric: str) -> float:
        return self.dev_cer if metric == "cer" else self.dev_wer


@dataclass(frozen=True)
class ReferenceRun:
    """One architecture trained with one seed.

    Attributes:
        curve: the dev scores after every epoch, in order.
        step_losses: the training loss of every step of the first epochs (those the build
            kept; see the table's ``recipe['step_loss_epochs']``).
        cpu_seconds: CPU time of the whole run (training and dev scoring), all threads.
        train_seconds: wall time of the optimiser steps alone.
    """

    arch_id: str
    seed: int
    curve: tuple[Epoch, ...]
    step_losses: tuple[float, ...]
    cpu_seconds: float
    train_seconds: float

    def at(self, epoch: float | None = None) -> Epoch:
        """The curve's point after ``epoch`` epochs (None: the last)."""
        if epoch is None:
            return self.curve[-1]
        for point in self.curve:
            if point.epoch == epoch:
                return point
        raise KeyError(f"run {run_key(self.arch_id, self.seed)} has no score at epoch {epoch}")


@dataclass(frozen=True)
class ReferenceEntry:
    """One architecture of a table: its spec, where it was drawn and what it costs."""

    arch_id: str
    spec: ArchSpec
    family: str
    depth: int
    costs: dict[str, float]


class ReferenceTable:
    """A reference table read from its file (see the module docstring)."""

    def __init__(self, data: dict[str, Any], source: str = "<dict>") -> None:
        if data.get("format") != FORMAT:
            raise UserError(
                f"{source}: reference table format {data.get('format')!r}; "
                f"this speechnas reads format {FORMAT}"
            )
        self.source = source
        self.name: str = data["name"]
        self.recipe: dict[str, Any] = data["recipe"]
        self.corpus: dict[str, Any] = data["corpus"]
        self.space: dict[str, Any] = data["space"]
        self.machine: dict[str, Any] = data.get("machine", {})
        self.entries: dict[str, ReferenceEntry] = {
            arch_id: ReferenceEntry(
                arch_id=arch_id,
                spec=ArchSpec.from_dict(e["spec"]),
                family=e["family"],
                depth=int(e["depth"]),
                costs={k: float(v) for k, v in e.get("costs", {}).items()},
            )
            for arch_id, e in data["archs"].items()
        }
        self.runs: dict[str, ReferenceRun] = {}
        for key, r in data["runs"].items():
            curve = tuple(
                Epoch(
                    epoch=float(c["epoch"]),
                    step=int(c["step"]),
                    train_loss=float(c["train_loss"]),
                    dev_cer=float(c["dev_cer"]),
                    dev_wer=float(c["dev_wer"]),
                    train_seconds=float(c["train_seconds"]),
                )
                for c in r["curve"]
            )
            self.runs[key] = ReferenceRun(
                arch_id=r["arch_id"],
                seed=int(r["seed"]),
                curve=curve,
                step_losses=tuple(float(x) for x in r.get("step_losses", ())),
                cpu_seconds=float(r["cpu_seconds"]),
                train_seconds=float(r["train_seconds"]),
            )
        self.seeds: tuple[int, ...] = tuple(data["seeds"])

    @classmethod
    def load(cls, path: str | Path | None = None) -> ReferenceTable:
        """The table in ``path``, or the shipped table of that name, or (None) the default."""
        tables = shipped_tables()
        if path is None:
            path = tables[DEFAULT_TABLE]
        elif str(path) in tables:
            path = tables[str(path)]
        path = Path(path)
        if not path.is_file():
            raise UserError(
                f"no reference table {str(path)!r}: give a file or one of {sorted(tables)}"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not a reference table (JSON error: {e})") from e
        return cls(data, source=str(path))

    # --- reading ----------------------------------------------------------------------------

    def run(self, arch_id: str, seed: int) -> ReferenceRun:
        return self.runs[run_key(arch_id, seed)]

    def complete(self, seeds: Sequence[int] | None = None) -> list[str]:
        """The architectures (in the table's order) every one of ``seeds`` (default: the
        table's) has finished."""
        wanted = self.seeds if seeds is None else tuple(seeds)
        return [a for a in self.entries if all(run_key(a, s) in self.runs for s in wanted)]

    def score(
        self,
        arch_id: str,
        metric: str = "cer",
        *,
        epoch: float | None = None,
        seeds: Sequence[int] | None = None,
    ) -> float:
        """The dev ``metric`` after ``epoch`` epochs (None: the budget's end), averaged over
        ``seeds`` (default: all of the table's)."""
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r}; expected one of {METRICS}")
        chosen = self.seeds if seeds is None else tuple(seeds)
        return float(np.mean([self.run(arch_id, s).at(epoch).score(metric) for s in chosen]))

    def scores(
        self,
        metric: str = "cer",
        *,
        epoch: float | None = None,
        seeds: Sequence[int] | None = None,
        archs: Sequence[str] | None = None,
    ) -> np.ndarray:
        """:meth:`score` of ``archs`` (default: :meth:`complete`), in that order."""
        chosen = self.complete(seeds) if archs is None else list(archs)
        return np.array([self.score(a, metric, epoch=epoch, seeds=seeds) for a in chosen])

    def training_cpu_seconds(self, arch_id: str) -> float:
        """The mean CPU-seconds of one of ``arch_id``'s runs."""
        return float(np.mean([self.run(arch_id, s).cpu_seconds for s in self.seeds]))

    def epochs(self) -> list[float]:
        """The epochs every complete run was scored after."""
        archs = self.complete()
        if not archs:
            return []
        marks = [{c.epoch for c in self.run(a, s).curve} for a in archs for s in self.seeds]
        return sorted(set.intersection(*marks))

    def seed_agreement(
        self, metric: str = "cer", *, epoch: float | None = None
    ) -> dict[str, float]:
        """How alike the seeds order the complete architectures: Kendall tau and Spearman
        rho of every pair of seeds (their mean), and of one seed against the mean of the
        others (the mean over the seeds); with one seed, nothing."""
        archs = self.complete()
        if len(self.seeds) < 2 or len(archs) < 3:
            return {}
        by_seed = {s: self.scores(metric, epoch=epoch, seeds=[s], archs=archs) for s in self.seeds}
        pairs = [(a, b) for i, a in enumerate(self.seeds) for b in self.seeds[i + 1 :]]
        out = {
            "pair_tau": float(np.mean([kendall_tau(by_seed[a], by_seed[b]) for a, b in pairs])),
            "pair_rho": float(np.mean([spearman_rho(by_seed[a], by_seed[b]) for a, b in pairs])),
        }
        if len(self.seeds) > 2:
            rest = [
                np.mean([by_seed[o] for o in self.seeds if o != s], axis=0) for s in self.seeds
            ]
            out["one_vs_rest_tau"] = float(
                np.mean(
                    [kendall_tau(by_seed[s], r) for s, r in zip(self.seeds, rest, strict=True)]
                )
            )
        return out
