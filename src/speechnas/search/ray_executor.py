"""``ray``: each trial a Ray task, with the resources of ``parallel.trial_resources``.

The search (the Ray driver) keeps up to ``workers`` tasks running; Ray places each on a node
with the CPUs and GPUs (fractions allowed: ``{cpu: 1, gpu: 0.5}`` runs two trials per GPU)
it asks for. A task claims its trial from the shared study itself and trains it
(:class:`~speechnas.search.jobs.TrialJob`), so the study's database must be one every node
reaches (PostgreSQL; SQLite only where all workers are on this machine) and the run folder
and data must be at the same path on every node (a shared file system).

Ray's own task retries are off: a task whose worker or node dies is reported lost, and its
trial is retried by the study (:meth:`~speechnas.search.store.SearchStore.recover`: at once
for a worker of this machine, after the heartbeat's grace period for another node's).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Hashable
from typing import Any

from speechnas.errors import UserError
from speechnas.search.executor import Outcome, ParallelExecutor, WorkerLost
from speechnas.search.jobs import TrialJob, worker_logging

__all__ = ["RayExecutor"]

log = logging.getLogger(__name__)


def _run(job: TrialJob, log_level: int) -> object:
    """A Ray task: one run of ``job``, in a Ray worker."""
    worker_logging(log_level)
    return job()


class RayExecutor(ParallelExecutor):
    """Up to ``workers`` trials at once, each a Ray task.

    Args:
        workers: tasks at once; ``None``: as many as the cluster's CPUs (and GPUs) hold.
        address: a running cluster's address (``auto``: the one this machine belongs to,
            ``HOST:PORT``: the head node's); ``None`` starts Ray on this machine for the
            search, with ``workers`` times the CPUs a trial asks for. Where this process has
            joined a Ray already (``ray.init``), that one is used, and kept.
        cpu, gpu: a trial's resources (fractions allowed).
    """

    def __init__(
        self,
        workers: int | None,
        address: str | None = None,
        cpu: float = 1.0,
        gpu: float = 0.0,
    ) -> None:
        super().__init__(workers or 1)
        self._fill = workers is None
        self.address = address
        self.cpu = cpu
        self.gpu = gpu
        self._refs: dict[Any, Hashable] = {}

    def _open(self, job: TrialJob) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no calls out of the machine
        try:
            import ray as ray_module
        except ImportError as e:
            raise UserError(
                "parallel.executor: ray needs Ray installed: pip install 'speechnas[ray]'"
            ) from e
        ray: Any = ray_module  # Ray's API is untyped
        self._ray = ray
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if self.address is None and not self._fill:
            options["num_cpus"] = max(1, math.ceil(self.workers * self.cpu))
        # Joined here, left at the end; a Ray this process joined before is used as it is.
        self._joined = not ray.is_initialized()
        if self._joined:
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise UserError(f"cannot join the Ray cluster at {self.address!r}: {e}") from e
        have = ray.cluster_resources()
        for name, need in (("CPU", self.cpu), ("GPU", self.gpu)):
            if need > have.get(name, 0.0):
                if self._joined:
                    ray.shutdown()
                raise UserError(
                    f"parallel.trial_resources asks for {need:g} {name}(s) per trial; the Ray "
                    f"cluster has {have.get(name, 0.0):g}"
                )
        if self._fill:
            fits = [have.get("CPU", 0.0) / self.cpu]
            if self.gpu > 0:
                fits.append(have.get("GPU", 0.0) / self.gpu)
            self.workers = max(1, math.floor(min(fits) + 1e-9))
        self._task = ray.remote(_run).options(
            num_cpus=self.cpu, num_gpus=self.gpu, max_retries=0, retry_exceptions=False
        )
        log.info(
            "Ray cluster: %s; up to %d trial(s) at once, each %g CPU, %g GPU",
            {k: v for k, v in have.items() if k in ("CPU", "GPU")},
            self.workers,
            self.cpu,
            self.gpu,
        )

    def _submit(self, job: TrialJob) -> Hashable:
        ref = self._task.remote(job, logging.getLogger().getEffectiveLevel())
        handle: str = ref.hex()
        self._refs[ref] = handle
        return handle

    def _wait(self, timeout: float) -> list[tuple[Hashable, Outcome]]:
        ray = self._ray
        refs = list(self._refs)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        ended: list[tuple[Hashable, Outcome]] = []
        for ref in ready:
            handle = self._refs.pop(ref)
            ended.append((handle, self._outcome(ref)))
        return ended

    def _outcome(self, ref: Any) -> Outcome:
        ray = self._ray
        lost = (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.LocalRayletDiedError,
            ray.exceptions.OutOfMemoryError,
        )
        try:
            outcome: Outcome = ray.get(ref)
            return outcome
        except ray.exceptions.RayTaskError as e:
            cause: BaseException = e.cause if isinstance(e.cause, BaseException) else e
            return cause
        except lost as e:
            return WorkerLost(str(e).strip().splitlines()[0])
        except ray.exceptions.RayError as e:
            error: BaseException = e
            return error

    def _close(self) -> None:
        ray = self._ray
        for ref in list(self._refs):
            ray.cancel(ref, force=True)
        self._refs.clear()
        if self._joined:
            ray.shutdown()
