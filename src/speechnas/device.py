"""Where training and scoring run: the CPU or a CUDA GPU, named as in torch (``cpu``,
``cuda``, ``cuda:1``).

Models move to the device once; batches are built on the CPU (audio decoding, speed
perturbation) and moved per step. On a GPU the same seed gives the same trials but not
bit-identical metrics (cuDNN and atomics are not deterministic), and a resumed run continues
from its checkpoint without replaying the GPU's random state.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from speechnas.errors import ConfigError

__all__ = ["check_device_name", "module_device", "training_device"]

_NAME = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device_name(name: str) -> bool:
    """``name`` is spelled like a device this package runs on (availability aside)."""
    return bool(_NAME.match(name))


def training_device(name: str, field: str = "device") -> torch.device:
    """The device ``name`` (see the module docstring), checked to exist on this machine.

    Raises:
        ConfigError: ``name`` is not ``cpu``/``cuda``/``cuda:N``, or names a GPU that this
            machine's torch cannot see (naming ``field``).
    """
    if not check_device_name(name):
        raise ConfigError(f"{field}: {name!r} is not a device; use cpu, cuda or cuda:N")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{field}: {name} asked for, but this torch ({torch.__version__}) sees no CUDA "
                "GPU; use cpu"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"{field}: {name} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) "
                "are visible"
            )
    return device


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter or buffer (the CPU when it has none)."""
    for param in module.parameters():
        return param.device
    for buffer in module.buffers():
        return buffer.device
    return torch.device("cpu")
