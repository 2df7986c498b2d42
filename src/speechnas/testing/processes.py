"""The CLI in a child process that stops itself at a chosen point, for tests of what happens
to a run killed or met there by another process.

A test that waits for a state by polling a database may miss it on a fast machine and wait
for ever on a slow one. A child that stops itself (SIGSTOP) just before the n-th call of a
chosen function is in a known state whatever the machine's speed; the test waits for the stop
(:func:`wait_stopped`, ``waitpid`` with ``WUNTRACED``), looks, and then kills or
continues it.

Example:
    >>> proc = start_cli(  # doctest: +SKIP
    ...     ["search", "--config", "s.yaml"], log=Path("s.log"),
    ...     stop_before="speechnas.search.runner:train_ladder", calls=1,
    ... )
    >>> wait_stopped(proc)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["resume", "start_cli", "wait_stopped"]

_CHILD = """
import importlib, json, os, signal, sys

stop_before, calls, patches = json.loads(sys.argv[1])
for target, value in patches.items():
    module, _, name = target.partition(":")
    setattr(importlib.import_module(module), name, value)
if stop_before:
    module, _, path = stop_before.partition(":")
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    real = getattr(owner, name)
    seen = [0]

    def stopping(*args, **kwargs):
        if seen[0] == calls:
            os.kill(os.getpid(), signal.SIGSTOP)
        seen[0] += 1
        return real(*args, **kwargs)

    setattr(owner, name, stopping)
from speechnas.cli import main

sys.exit(main(sys.argv[2:]))
"""


def start_cli(
    argv: Sequence[str],
    log: Path,
    *,
    stop_before: str | None = None,
    calls: int = 0,
    patches: dict[str, Any] | None = None,
) -> subprocess.Popen[bytes]:
    """``speechnas ARGV`` in a child process, its output in ``log``.

    Args:
        stop_before: ``"module:function"`` or ``"module:Class.method"``: the child stops
            itself (SIGSTOP) just before the call of it numbered ``calls`` (0: the first).
        patches: ``{"module:NAME": value}`` set in the child before the CLI runs (plain
            JSON values, e.g. a longer interval).
    """
    spec = json.dumps([stop_before, calls, patches or {}])
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _CHILD, spec, *argv], stdout=out, stderr=subprocess.STDOUT
        )


def wait_stopped(
    proc: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 1800.0
) -> None:
    """Wait until ``proc`` stops itself.

    Args:
        timeout: seconds; a child that takes longer is not slow but stuck (it is killed).

    Raises:
        AssertionError: it exited instead (with its exit status and the end of its log), or
            did neither within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        pid, status = os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"it neither stopped nor exited in {timeout:g} s")
        time.sleep(0.05)
    if os.WIFSTOPPED(status):
        return
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_text(errors="replace")[-3000:] if log is not None else ""
    raise AssertionError(f"it exited ({proc.returncode}) before it stopped\n{tail}")


def resume(proc: subprocess.Popen[bytes]) -> None:
    """Let a stopped ``proc`` go on."""
    os.kill(proc.pid, signal.SIGCONT)
