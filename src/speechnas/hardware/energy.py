"""Energy per utterance: measured from the CPU's energy counter where one can be read,
estimated from the work otherwise, and always labelled which.

* **Measured on a GPU** (:func:`measure_gpu_energy_j`): NVML's total-energy counter of the
  device (millijoules since the driver loaded; Volta and newer), read through the
  ``nvidia-ml-py`` package where it and the driver's library are installed; a call's energy
  is the counter's increase over repeated calls divided by them. The call must wait for the
  GPU before it returns (a transcription does: its ids come back to the host).
* **Measured** (:func:`measure_energy_j`): Linux exposes Intel and AMD CPUs' RAPL package
  counters as ``/sys/class/powercap/intel-rapl:*/energy_uj`` (AMD's under the same name).
  Where one is readable, a transcription's energy is the counter's increase over repeated
  runs (minus nothing: the package's idle draw during the run is part of what the utterance
  costs on that machine), divided by the runs. Like a measured latency it varies from run to
  run, so a search that minimises it is not repeated exactly where it is measured.
* **Estimated** (:class:`EnergyModel`): the arithmetic and the memory traffic, priced per
  operation. The default prices are Horowitz's 45 nm figures (ISSCC 2014, "Computing's
  energy problem"): a 32-bit float multiply-add 4.6 pJ (3.7 multiply + 0.9 add), and a byte
  from DRAM 160 pJ (640 pJ per 32-bit word); the traffic is the float32 weights read once
  and the peak activations written and read once (the analytic memory estimate,
  :func:`~speechnas.hardware.memory.analytic_memory_bytes`: a lower bound on the traffic,
  as every layer's activations pass, not only the largest). A newer CPU spends less per
  operation, so the estimate orders models by their work and traffic rather than predicting
  a meter's reading; where a counter exists, :meth:`EnergyModel.fit` fits the two prices to
  measured models instead.

On a virtual machine without a readable counter (this project's CI), every figure is an
estimate; the metric's source says so.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechnas.recognizer import NotMeasurable

__all__ = ["EnergyModel", "energy_counter", "measure_energy_j", "measure_gpu_energy_j"]

_RAPL = "/sys/class/powercap/intel-rapl:*/energy_uj"


def energy_counter() -> Path | None:
    """The first readable RAPL package counter, or ``None`` (no counter, or not readable)."""
    for path in sorted(glob.glob(_RAPL)):
        if ":" in Path(path).parent.name.split("intel-rapl:", 1)[1]:
            continue  # a sub-domain (core, uncore, dram): the package counter is enough
        try:
            int(Path(path).read_text())
        except (OSError, ValueError):
            continue
        return Path(path)
    return None


def measure_energy_j(fn: Callable[[], object], *, repeats: int = 10, warmup: int = 2) -> float:
    """Joules per call of ``fn`` from the RAPL package counter (module docstring).

    Raises:
        NotMeasurable: no readable counter on this machine.
    """
    counter = energy_counter()
    if counter is None:
        raise NotMeasurable("no readable RAPL energy counter (/sys/class/powercap)")
    max_path = counter.with_name("max_energy_range_uj")
    # The counter runs from 0 to max_energy_range_uj inclusive, then starts again at 0.
    wrap = int(max_path.read_text()) + 1 if max_path.exists() else 2**32
    for _ in range(warmup):
        fn()
    start = int(counter.read_text())
    for _ in range(repeats):
        fn()
    end = int(counter.read_text())
    used = (end - start) % wrap  # the counter wraps around
    return used / 1e6 / repeats


def _nvml_counter(index: int) -> Callable[[], float] | None:
    """A reader of GPU ``index``'s NVML energy counter in joules, or ``None`` (no
    ``nvidia-ml-py``, no driver library, no such device, or no counter on it)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception:  # pynvml.NVMLError and its many subclasses
        return None
    return lambda: float(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)) / 1e3


def measure_gpu_energy_j(
    fn: Callable[[], object], *, repeats: int = 10, warmup: int = 2, index: int = 0
) -> float:
    """Joules per call of ``fn`` on GPU ``index`` from NVML's counter (module docstring).

    Raises:
        NotMeasurable: no NVML energy counter readable for that GPU.
    """
    read = _nvml_counter(index)
    if read is None:
        raise NotMeasurable(
            f"no NVML energy counter for GPU {index} (needs nvidia-ml-py, the NVIDIA driver "
            "and a Volta or newer GPU)"
        )
    for _ in range(warmup):
        fn()
    start = read()
    for _ in range(repeats):
        fn()
    return (read() - start) / repeats


@dataclass(frozen=True)
class EnergyModel:
    """Joules from multiply-accumulates and bytes moved (module docstring).

    Attributes:
        joules_per_mac, joules_per_byte: the prices.
        source: where they come from (``horowitz-45nm`` or ``fitted on N measured models``).
    """

    joules_per_mac: float = 4.6e-12
    joules_per_byte: float = 160e-12
    source: str = "horowitz-45nm"

    def estimate_j(self, macs: float, bytes_moved: float) -> float:
        return macs * self.joules_per_mac + bytes_moved * self.joules_per_byte

    @classmethod
    def fit(
        cls, macs: Sequence[float], bytes_moved: Sequence[float], joules: Sequence[float]
    ) -> EnergyModel:
        """Non-negative least squares of measured joules on (MACs, bytes).

        Raises:
            ValueError: fewer than two models, or lengths that differ.
        """
        if not len(macs) == len(bytes_moved) == len(joules) or len(macs) < 2:
            raise ValueError("need at least two measured models, each with MACs and bytes")
        from scipy.optimize import nnls

        design = np.column_stack([np.asarray(macs, float), np.asarray(bytes_moved, float)])
        scale = design.max(axis=0).clip(min=1e-30)
        coef, _ = nnls(design / scale, np.asarray(joules, float))
        per_mac, per_byte = (coef / scale).tolist()
        return cls(per_mac, per_byte, f"fitted on {len(macs)} measured models")
