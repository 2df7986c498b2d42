"""Energy per utterance: the estimate's basis, the fit where a counter exists, the counter
read where it is readable, and a search that minimises energy."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechnas.hardware import energy
from speechnas.hardware.cheap import cheap_metrics
from speechnas.hardware.energy import EnergyModel, energy_counter, measure_energy_j
from speechnas.presets import preset
from speechnas.recognizer import NotMeasurable


def test_the_estimate_prices_work_and_traffic() -> None:
    model = EnergyModel()
    assert model.estimate_j(1e9, 0) == pytest.approx(4.6e-3)  # 1 G multiply-adds, 45 nm
    assert model.estimate_j(0, 1e6) == pytest.approx(1.6e-4)  # 1 MB from DRAM
    # Measured joules of 10 pJ per MAC and 5 nJ per byte: the fit finds the two prices.
    fitted = EnergyModel.fit([1e9, 2e9, 1e9], [1e6, 1e6, 3e6], [0.015, 0.025, 0.025])
    assert fitted.joules_per_mac == pytest.approx(1e-11, rel=1e-6)
    assert fitted.joules_per_byte == pytest.approx(5e-9, rel=1e-6)
    assert fitted.source == "fitted on 3 measured models"
    with pytest.raises(ValueError, match="at least two"):
        EnergyModel.fit([1.0], [1.0], [1.0])


def test_a_bigger_model_is_estimated_to_cost_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(energy, "_RAPL", "/nonexistent/*/energy_uj")
    monkeypatch.setattr("speechnas.hardware.cheap.energy_counter", lambda: None)
    small = cheap_metrics(preset("conformer-ctc-xs"), vocab_size=30, repeats=2, energy=True)
    big = cheap_metrics(preset("conformer-ctc-s"), vocab_size=30, repeats=2, energy=True)
    assert small["energy_measured"] == big["energy_measured"] == 0.0
    assert 0 < small["energy_j"] < big["energy_j"]


def test_a_readable_counter_is_read_and_its_wrap_handled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = tmp_path / "intel-rapl:0"
    domain.mkdir()
    (domain / "energy_uj").write_text("998000000\n")
    (domain / "max_energy_range_uj").write_text("1000000000\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-domain: not the package counter
    (tmp_path / "intel-rapl:0:0" / "energy_uj").write_text("5\n")
    monkeypatch.setattr(energy, "_RAPL", str(tmp_path / "intel-rapl:*" / "energy_uj"))
    assert energy_counter() == domain / "energy_uj"
    calls = iter(range(10))

    def run() -> None:  # each call spends 1 J; the counter passes its range after warm-up
        value = 998_000_000 + (next(calls) + 1) * 1_000_000
        (domain / "energy_uj").write_text(f"{value % 1_000_000_001}\n")

    # Read at 999e6 after the warm-up; the calls leave 1e9 (the top), then 999,999 and
    # 1,999,999 past the wrap: 3 J in all.
    assert measure_energy_j(run, repeats=3, warmup=1) == pytest.approx(1.0)
    monkeypatch.setattr(energy, "_RAPL", str(tmp_path / "none" / "energy_uj"))
    with pytest.raises(NotMeasurable, match="no readable RAPL"):
        measure_energy_j(run)


def test_this_machines_counter_is_reported_either_way() -> None:
    # A VM without /sys/class/powercap has none; a bare-metal Linux box may. Either is a fact.
    found = energy_counter()
    assert found is None or found.name == "energy_uj"


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_a_search_minimises_energy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from speechnas.search.config import search_config_from_dict
    from speechnas.search.runner import open_store, run_search
    from speechnas.testing.search import tiny_search

    # The estimate (a readable counter would measure a busy package, whatever it holds).
    monkeypatch.setattr("speechnas.hardware.cheap.energy_counter", lambda: None)
    config = search_config_from_dict(
        tiny_search(
            tmp_path,
            n_trials=3,
            strategy="random",
            strategy_options={},
            objectives=["wer", "energy_j"],
            constraints={"max_energy_j": 1.0},
        )
    )
    run_search(config, progress=False)
    complete = [r for r in open_store(config, for_search=False).records() if r.state == "COMPLETE"]
    assert complete
    for r in complete:
        assert 0 < r.values["energy_j"] == r.metrics["energy_j"] <= 1.0
        assert r.metrics["energy_measured"] == 0.0


class _FakeNVML:
    """NVML as ``nvidia-ml-py`` exposes it: a counter that grows 50 mJ per call of work."""

    def __init__(self) -> None:
        self.millijoules = 1_000

    def nvmlInit(self) -> None:  # noqa: N802  (NVML's names)
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        if index != 0:
            raise RuntimeError("no such GPU")
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:  # noqa: N802
        return self.millijoules


def test_a_gpu_counter_is_read_through_nvml_where_there_is_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from speechnas.hardware.energy import measure_gpu_energy_j
    from speechnas.hardware.targets import TorchCUDATarget

    fake = _FakeNVML()

    def work() -> None:
        fake.millijoules += 50

    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert measure_gpu_energy_j(work, repeats=4) == pytest.approx(0.05)
    assert TorchCUDATarget().energy_j(work, repeats=2) == (pytest.approx(0.05), "nvml")
    with pytest.raises(NotMeasurable, match="GPU 1"):
        measure_gpu_energy_j(work, index=1)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    with pytest.raises(NotMeasurable, match="nvidia-ml-py"):
        measure_gpu_energy_j(work)


def test_a_profile_reports_energy_measured_or_why_not_beside_the_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from speechnas.hardware.measure import profile_model, untrained_model
    from speechnas.hardware.targets import TorchCPUTarget

    spec = preset("conformer-ctc-xs")
    model = untrained_model(spec)
    monkeypatch.setattr(energy, "_RAPL", "/nonexistent/*/energy_uj")
    p = profile_model(model, spec, TorchCPUTarget(threads=1), lengths_s=(1.0,), repeats=2)
    assert p.energy is not None and p.energy.audio_s == 1.0 and p.energy.joules is None
    assert p.energy.source.startswith("not measured: no readable RAPL")
    assert p.energy.estimate_j > 0 and p.to_dict()["energy"]["estimate_j"] > 0
    monkeypatch.setattr(TorchCPUTarget, "energy_j", lambda self, fn, repeats: (0.2, "rapl"))
    p = profile_model(model, spec, TorchCPUTarget(threads=1), lengths_s=(1.0,), repeats=2)
    assert p.energy is not None and (p.energy.joules, p.energy.source) == (0.2, "rapl")
