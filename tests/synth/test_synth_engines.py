from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import soundfile as sf

from speechnas.synth.engines import ENGINES, EspeakEngine, TTSEngine, TTSError, get_engine

# One voice per engine that the Debian packages install.
_VOICE = {"espeak": "en-us+f2", "flite": "slt", "festival": "kal_diphone"}
_TEXT = "set an alarm for seven thirty"


def _engine_or_skip(name: str) -> TTSEngine:
    engine = get_engine(name)
    if not engine.available():
        pytest.skip(f"{name}: {' / '.join(engine.programs)} not installed")
    base = _VOICE[name].partition("+")[0]
    if base not in engine.voices():
        pytest.skip(f"{name}: voice {base} not installed")
    return engine


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_synthesizes_deterministically(name: str, tmp_path: Path) -> None:
    engine = _engine_or_skip(name)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    engine.synthesize(_TEXT, _VOICE[name], a)
    engine.synthesize(_TEXT, _VOICE[name], b)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    info = sf.info(str(a))
    assert info.channels == 1 and 0.5 < info.duration < 10.0


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_rate_changes_duration(name: str, tmp_path: Path) -> None:
    engine = _engine_or_skip(name)
    slow, fast = tmp_path / "slow.wav", tmp_path / "fast.wav"
    engine.synthesize(_TEXT, _VOICE[name], slow, rate=0.7)
    engine.synthesize(_TEXT, _VOICE[name], fast, rate=1.3)
    assert sf.info(str(slow)).duration > 1.2 * sf.info(str(fast)).duration


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_rejects_unknown_voice(name: str, tmp_path: Path) -> None:
    engine = _engine_or_skip(name)
    with pytest.raises(TTSError):
        engine.synthesize(_TEXT, "no-such-voice", tmp_path / "x.wav")
    with pytest.raises(ValueError):
        engine.synthesize(_TEXT, _VOICE[name], tmp_path / "x.wav", rate=0.0)


def test_espeak_rejects_unknown_variant(tmp_path: Path) -> None:
    engine = _engine_or_skip("espeak")
    assert isinstance(engine, EspeakEngine)
    assert "f2" in engine.variants()
    with pytest.raises(TTSError, match="variant"):
        engine.synthesize(_TEXT, "en-us+no-such-variant", tmp_path / "x.wav")


def test_missing_program_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    for name in ENGINES:
        engine = get_engine(name)
        assert not engine.available()
        assert engine.voices() == []


def test_unknown_engine_name() -> None:
    with pytest.raises(ValueError, match="unknown TTS engine"):
        get_engine("sam")
