"""Weight sharing: a supernet whose subnets are the architectures of an elastic space."""

from __future__ import annotations

from speechnas.supernet.space import SUPERNET_ENCODERS, SupernetSpace
from speechnas.supernet.supernet import Supernet, recalibrate
from speechnas.supernet.weights import SharedWeights, probe_specs

__all__ = [
    "SUPERNET_ENCODERS",
    "SharedWeights",
    "Supernet",
    "SupernetSpace",
    "probe_specs",
    "recalibrate",
]
