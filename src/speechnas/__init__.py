"""speechnas: neural architecture search for speech models that fit a target device.

The public API, importable from here (each loaded on first use, so ``import speechnas`` stays
light)::

    import speechnas

    config = speechnas.load_search_config("search.yaml")
    summary = speechnas.run_search(config)          # resumable: call again to continue
    finals = speechnas.run_final(summary.front, config)
    speechnas.write_report(config)

Importing speechnas before torch sets ``GOMP_SPINCOUNT=1000`` unless it is set already: the
OpenMP threads of torch's CPU kernels then spin for a short while, not 300,000 rounds, before
they sleep at a barrier. On a machine shared with other busy processes, long spinning
burns the cores the other threads need: training steps ran 1.1-2.4x faster beside two busy
jobs with it, and 0.91-1.07x as fast alone (BENCHMARKS.md, "Training on a busy machine").
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# NOTE: libgomp reads it once, when torch loads it: it must be set before torch is imported.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

from speechnas._version import __version__  # noqa: E402

#: Public name -> the module that defines it. (``speechnas.train.train`` cannot be one: the
#: name ``train`` is the subpackage's.)
_API = {
    "ArchSpec": "speechnas.arch",
    "PRESETS": "speechnas.presets",
    "SpeechSpace": "speechnas.space",
    "build_model": "speechnas.models",
    "TrainConfig": "speechnas.train",
    "TrainSettings": "speechnas.train",
    "SearchConfig": "speechnas.search.config",
    "load_search_config": "speechnas.search.config",
    "search_config_from_dict": "speechnas.search.config",
    "run_search": "speechnas.search.runner",
    "run_final": "speechnas.search.final",
    "write_report": "speechnas.search.reporting",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'speechnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # found once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
