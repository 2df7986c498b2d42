"""The latency memo: measured once per key on this machine, read back after, never fatal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from speechnas.hardware.memo import LatencyMemo, default_memo_path
from speechnas.timing import Latency

KEY = dict(vocab_size=30, audio_seconds=5.0, repeats=5, threads=2)


def _latency(ms: float) -> Latency:
    return Latency(median_s=ms / 1000, p90_s=ms / 900, audio_seconds=5.0, repeats=5, threads=2)


class _Timer:
    """Stands in for a measurement: a new figure on every call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Latency:
        self.calls += 1
        return _latency(10.0 + self.calls)


def test_a_key_is_measured_once_and_read_back_after(tmp_path: Path) -> None:
    timer = _Timer()
    key = LatencyMemo.key("a1", **KEY)
    first = LatencyMemo(tmp_path / "m.sqlite").measured(key, timer)
    again = LatencyMemo(tmp_path / "m.sqlite").measured(key, timer)  # another process's view
    assert timer.calls == 1 and again == first == _latency(11.0)
    other = LatencyMemo.key("a2", **KEY)
    assert LatencyMemo(tmp_path / "m.sqlite").measured(other, timer) == _latency(12.0)


@pytest.mark.parametrize(
    "change",
    [{"vocab_size": 31}, {"audio_seconds": 2.0}, {"repeats": 10}, {"threads": 1}],
)
def test_every_setting_of_the_measurement_is_in_the_key(change: dict[str, float]) -> None:
    assert LatencyMemo.key("a1", **{**KEY, **change}) != LatencyMemo.key("a1", **KEY)


def test_the_key_names_the_machine_and_the_software() -> None:
    key = LatencyMemo.key("a1", **KEY)
    for field in ('"cpu"', '"torch"', '"speechnas"', '"code"'):
        assert field in key


def test_an_unreadable_memo_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    timer = _Timer()
    memo = LatencyMemo(path)
    with caplog.at_level(logging.WARNING):
        assert memo.measured(LatencyMemo.key("a1", **KEY), timer) == _latency(11.0)
        assert memo.measured(LatencyMemo.key("a1", **KEY), timer) == _latency(12.0)
    assert "unusable" in caplog.text and str(path) in caplog.text
    assert caplog.text.count("unusable") == 1  # said once


def test_an_unwritable_place_measures_all_the_same(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    memo = LatencyMemo(tmp_path / "file" / "m.sqlite")  # its folder would be a file
    assert memo.measured(LatencyMemo.key("a1", **KEY), _Timer()) == _latency(11.0)


def test_the_default_place_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPEECHNAS_CACHE_DIR", str(tmp_path))
    assert default_memo_path() == tmp_path / "latency.sqlite"
    assert LatencyMemo().path == tmp_path / "latency.sqlite"
    monkeypatch.delenv("SPEECHNAS_CACHE_DIR")
    assert default_memo_path() == Path.home() / ".cache" / "speechnas" / "latency.sqlite"
