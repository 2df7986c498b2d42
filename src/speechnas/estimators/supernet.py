"""Estimators that read a trained supernet: a subnet's dev error on its inherited weights, as
they are (:class:`InheritedScore`) or after a short fine-tune from them
(:class:`FineTunedInherited`).

Both take a scorer of :mod:`speechnas.supernet.scoring` (one supernet, or one per depth) and
score an architecture that is not a subnet of its space by the nearest subnet
(:meth:`~speechnas.supernet.SupernetSpace.project`) when asked to: the same layers on the
supernet's macro architecture, which is how a reference table's architectures of the family,
with their own front-ends and activations, are placed. The supernet's own training is paid
once for every architecture it scores: each estimate carries its share, the training's
CPU-seconds over the architectures it is meant to score.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal, Protocol

from speechnas.arch import ArchSpec
from speechnas.estimators._base import Estimator
from speechnas.reports.curves import read_history
from speechnas.supernet.scoring import SubnetScorer
from speechnas.supernet.space import SupernetSpace
from speechnas.train import TrainConfig, save_checkpoint, train

__all__ = ["FineTunedInherited", "InheritedScore"]


class Scorer(Protocol):
    """What the estimators need of a scorer: its space, and which supernet scores a subnet
    (:class:`~speechnas.supernet.scoring.SubnetScorer`, or
    :class:`~speechnas.supernet.scoring.ByDepth` for one supernet per depth)."""

    @property
    def space(self) -> SupernetSpace: ...

    def route(self, spec: ArchSpec) -> tuple[SubnetScorer, ArchSpec]: ...


class _SupernetEstimator(Estimator):
    """An estimator over a supernet's subnets: :meth:`subnet` places an architecture (as it
    is, or projected to its nearest subnet), and every estimate adds the supernet's training
    share ``shared_cpu_seconds`` to its cost."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        metric: Literal["cer", "wer"] = "cer",
        project: bool = False,
        shared_cpu_seconds: float = 0.0,
    ) -> None:
        if metric not in ("cer", "wer"):
            raise ValueError(f"metric={metric!r}; choose cer or wer")
        self.scorer = scorer
        self.metric = metric
        self.project = project
        self.shared_cpu_seconds = float(shared_cpu_seconds)

    def subnet(self, spec: ArchSpec) -> tuple[SubnetScorer, ArchSpec]:
        """The scorer of ``spec`` and ``spec`` as a subnet there (projected, if so asked).

        Raises:
            ValueError: ``spec`` is not a subnet (and not projected), or not of the family.
        """
        space = self.scorer.space
        if self.project and not space.contains(spec):
            spec = space.project(spec)
        return self.scorer.route(spec)


class InheritedScore(_SupernetEstimator):
    """Dev error (``metric``) of the subnet on its inherited weights, greedy CTC decoding.

    Args:
        scorer: a :class:`Scorer`.
        metric: ``cer`` or ``wer``.
        project: score an architecture outside the space by its nearest subnet (otherwise
            it is refused).
        shared_cpu_seconds: the supernet's training cost per architecture it scores, added
            to every estimate's cost.

    Raises:
        ValueError: (from :meth:`estimate`) an architecture outside the space, not projected.
    """

    name = "inherited"

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        scorer, subnet = self.subnet(spec)
        return scorer(subnet)[self.metric], self.shared_cpu_seconds


class FineTunedInherited(_SupernetEstimator):
    """Dev error (``metric``) after ``config``'s short training starting from the subnet's
    inherited weights (batch-norm statistics re-estimated first).

    ``config`` is the fine-tune's recipe: its data, seed and budget (``max_steps`` with its own
    warm-up and cosine schedule, say); the run keeps the supernet's tokenizer unless
    ``config.init_vocabulary`` is ``data``. Each architecture trains in a folder of ``root``
    (written over); its dev score is the last scoring of the run.

    Raises:
        ValueError: (from :meth:`estimate`) an architecture outside the space, not projected;
            a run that scored no dev set (``config`` without ``dev_manifest``).
    """

    name = "inherited, fine-tuned"

    def __init__(
        self,
        scorer: Scorer,
        config: TrainConfig,
        root: str | Path,
        *,
        metric: Literal["cer", "wer"] = "cer",
        project: bool = False,
        shared_cpu_seconds: float = 0.0,
    ) -> None:
        super().__init__(
            scorer, metric=metric, project=project, shared_cpu_seconds=shared_cpu_seconds
        )
        if config.dev_manifest is None:
            raise ValueError("the fine-tune config has no dev_manifest to score")
        self.config = config
        self.root = Path(root)

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        scorer, subnet = self.subnet(spec)
        out = self.root / subnet.arch_id
        inherited = save_checkpoint(
            out / "inherited.pt",
            {
                "model": scorer.model(subnet).state_dict(),
                "arch": subnet.to_dict(),
                "tokenizer": scorer.tokenizer.to_state(),
            },
        )
        config = replace(
            self.config,
            arch=subnet,
            init_checkpoint=str(inherited),
            init_by_shape=False,
            out_dir=str(out / "run"),
        )
        train(config, overwrite=True, progress=False)
        scored = [h for h in read_history(out / "run" / "history.jsonl") if "dev_cer" in h]
        if not scored:
            raise ValueError(f"{out / 'run'}: the fine-tune scored no dev set")
        return float(scored[-1][f"dev_{self.metric}"]), self.shared_cpu_seconds
