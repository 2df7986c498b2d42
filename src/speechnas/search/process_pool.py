"""``processes``: N worker processes on this machine, each running one trial at a time.

Each worker is a process of its own (started with ``spawn``: a fresh interpreter, no state
forked from the search) joined to the search by a pipe of its own, over which it receives a
:class:`~speechnas.search.jobs.TrialJob` and sends back what came of it. A worker that dies
mid-trial (killed, out of memory) takes only its own trial with it: the search sees its pipe
close, starts a new worker in its place and goes on; the trial is retried by the next claim.
:class:`concurrent.futures.ProcessPoolExecutor` would terminate every other worker mid-trial
when one dies, and :class:`multiprocessing.pool.Pool` would wait forever for the lost task;
hence this small pool.

The workers share the study's database with the search (SQLite on this machine; its lock is a
file lock every process takes) and write their trials into the run folder.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import traceback
from collections.abc import Hashable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from speechnas.search.executor import Outcome, ParallelExecutor, WorkerLost
from speechnas.search.jobs import TrialJob, worker_logging

__all__ = ["ProcessExecutor"]

log = logging.getLogger(__name__)

#: How long a worker asked to stop may take before it is terminated (seconds).
STOP_SECONDS = 30.0


def _picklable(e: BaseException) -> BaseException:
    """``e``, or a RuntimeError telling it (with its traceback) where ``e`` does not pickle."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        text = "".join(traceback.format_exception(e))
        return RuntimeError(f"{type(e).__name__} in a worker process: {e}\n{text}")


def _serve(conn: Connection, log_level: int, threads: int | None) -> None:
    """A worker's life: run each job the pipe brings, send back what came of it; end at
    ``None`` or when the search's end of the pipe closes."""
    worker_logging(log_level)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            outcome: object = job()
        except BaseException as e:
            outcome = _picklable(e)
        try:
            conn.send(outcome)
        except (BrokenPipeError, OSError):
            return  # the search is gone; the trial is told to the study already


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection


class ProcessExecutor(ParallelExecutor):
    """Up to ``workers`` trials at once, each in a worker process of this machine.

    Args:
        workers: worker processes (trials at once).
        threads: PyTorch threads per worker where the search's ``train.threads`` is unset
            (default: this machine's cores shared between the workers).
    """

    def __init__(self, workers: int, threads: int | None = None) -> None:
        super().__init__(workers)
        self.threads = threads
        self._idle: list[_Worker] = []
        self._busy: dict[Hashable, _Worker] = {}
        self._handles = itertools.count()
        self._started = 0

    def _open(self, job: TrialJob) -> None:
        self._context = multiprocessing.get_context("spawn")
        if job.config.train.threads is None and self.threads is None:
            self.threads = max(1, (os.cpu_count() or 1) // self.workers)

    def _start(self) -> _Worker:
        here, there = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(there, logging.getLogger().getEffectiveLevel(), self.threads),
            name=f"speechnas-worker-{self._started}",
        )
        process.start()
        there.close()  # the worker's end lives in the worker: its death closes the pipe
        self._started += 1
        return _Worker(process, here)

    def _submit(self, job: TrialJob) -> Hashable:
        worker = self._idle.pop() if self._idle else self._start()
        handle = next(self._handles)
        try:
            worker.conn.send(job)
        except (BrokenPipeError, OSError):  # it died idle: one more start
            worker = self._start()
            worker.conn.send(job)
        self._busy[handle] = worker
        return handle

    def _wait(self, timeout: float) -> list[tuple[Hashable, Outcome]]:
        busy = list(self._busy.items())
        waitables = [w.conn for _, w in busy] + [w.process.sentinel for _, w in busy]
        ready = set(multiprocessing.connection.wait(waitables, timeout))
        ended: list[tuple[Hashable, Outcome]] = []
        for handle, worker in busy:
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            outcome: Outcome | None = None
            try:
                if worker.conn.poll():
                    outcome = worker.conn.recv()
            except (EOFError, OSError):
                outcome = None
            del self._busy[handle]
            if outcome is None:  # the pipe closed without an answer: the worker died
                worker.process.join(timeout=STOP_SECONDS)
                outcome = WorkerLost(f"{worker.process.name}, {_exit(worker.process)}")
                worker.conn.close()
            else:
                self._idle.append(worker)
            ended.append((handle, outcome))
        return ended

    def _close(self) -> None:
        workers = self._idle + list(self._busy.values())
        self._idle, self._busy = [], {}
        for worker in workers:
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for worker in workers:
            worker.process.join(timeout=STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=STOP_SECONDS)
            worker.conn.close()


def _exit(process: BaseProcess) -> str:
    """How ``process`` ended, in words."""
    code = process.exitcode
    if code is None:
        return "no answer"
    if code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
