"""speechnas: neural architecture search for speech models that fit a target device.

Importing speechnas before torch sets ``GOMP_SPINCOUNT=1000`` unless it is set already: the
OpenMP threads of torch's CPU kernels then spin for a short while, not 300,000 rounds, before
they sleep at a barrier. On a machine shared with other busy processes, long spinning
burns the cores the other threads need: training steps ran 1.1-2.4x faster beside two busy
jobs with it, and 0.91-1.07x as fast alone (BENCHMARKS.md, "Training on a busy machine").
"""

from __future__ import annotations

import os

# NOTE: libgomp reads it once, when torch loads it: it must be set before torch is imported.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

from speechnas._version import __version__

__all__ = ["__version__"]
