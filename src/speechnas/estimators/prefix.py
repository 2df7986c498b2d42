"""Where the first steps of a run come from: trained here, or read from a reference table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from speechnas.arch import ArchSpec
from speechnas.bench import ReferenceTable
from speechnas.estimators._base import Prefix, PrefixSource
from speechnas.reports.curves import read_history
from speechnas.train import TrainConfig, train

__all__ = ["TablePrefix", "TrainedPrefix"]


class TablePrefix(PrefixSource):
    """The first steps of ``table``'s run of each architecture with ``seed``.

    The table keeps every step's loss of its runs' first epochs and the dev scores after each
    epoch, so a prefix is exact for losses up to those epochs (its ``step_losses`` stop where
    the table's do) and scored at the epochs it contains. Its cost is the run's CPU-seconds
    pro rata of the steps (training and the scorings within), what training it here would
    have cost on the table's machine.

    Raises:
        KeyError: the table has no such run.
    """

    def __init__(self, table: ReferenceTable, seed: int) -> None:
        self.table = table
        self.seed = seed

    def prefix(self, spec: ArchSpec, steps: int) -> Prefix:
        run = self.table.run(spec.arch_id, self.seed)
        total = run.curve[-1].step
        steps = min(steps, total)
        within = [c for c in run.curve if c.step <= steps]
        return Prefix(
            steps=steps,
            curve=tuple((c.step, c.dev_cer, c.dev_wer) for c in within),
            step_losses=run.step_losses[:steps],
            cpu_seconds=run.cpu_seconds * steps / total,
        )


class TrainedPrefix(PrefixSource):
    """The first steps trained here: ``config`` (the budget's recipe, data and seed) with
    ``arch`` replaced and ``stop_after_steps`` set, in a folder of ``root`` per architecture
    (written over). Its cost is paid in the call, so the prefix reports none."""

    def __init__(self, config: TrainConfig, root: str | Path) -> None:
        self.config = config
        self.root = Path(root)

    def prefix(self, spec: ArchSpec, steps: int) -> Prefix:
        out = self.root / spec.arch_id
        config = replace(self.config, arch=spec, stop_after_steps=steps, out_dir=str(out))
        result = train(config, overwrite=True, progress=False)
        history = read_history(out / "history.jsonl")
        return Prefix(
            steps=result.steps,
            curve=tuple(
                (h["step"], h["dev_cer"], h["dev_wer"]) for h in history if "dev_cer" in h
            ),
            step_losses=tuple(x for h in history for x in h["step_losses"]),
            cpu_seconds=0.0,
        )
