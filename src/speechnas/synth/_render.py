"""One synthetic utterance: a plan drawn from ``(seed, index)``, then rendered to a FLAC file.

Planning is pure and cheap: every random choice of utterance ``index`` comes from generators
seeded by ``SeedSequence(seed, spawn_key=(index,))``, so an utterance does not depend on which
worker renders it, in which order, or on how many utterances come before it. Text, voice and
augmentation use separate child streams, so e.g. the text of utterance ``i`` is the same
whatever voices are installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from speechnas.data.audio import SAMPLE_RATE, resample
from speechnas.synth.augment import (
    NOISE_COLOURS,
    NoiseColour,
    add_noise,
    add_reverb,
    change_speed,
    peak_normalize,
    shift_pitch,
    synthetic_rir,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from speechnas.synth.engines import TTSEngine
    from speechnas.synth.grammar import Grammar
    from speechnas.synth.voices import VoicePreset

__all__ = ["UtterancePlan", "plan_spoken", "plan_utterance", "render_utterance"]

# Augmentation ranges and probabilities (per utterance).
_RATE_JITTER = 0.08  # speaking rate x U(1 - j, 1 + j)
_PITCH_JITTER = 1.0  # engine pitch +- semitones
_SHIFT_JITTER = 0.75  # resample shift +- semitones
_SPEED_RANGE = (0.9, 1.1)
_SPEED_PROB = 0.5
_REVERB_RT60 = (0.15, 0.6)
_REVERB_PROB = 0.3
_SNR_DB = (10.0, 30.0)
_NOISE_PROB = 0.8
_PEAK = (0.3, 0.95)


@dataclass(frozen=True)
class UtterancePlan:
    """Everything needed to render one utterance; equal plans give identical audio.

    Attributes:
        index: Position in the corpus sequence.
        utt_id: ``synth-<index:06d>-<speaker>``.
        text: Transcript, also the TTS input.
        preset: The speaker.
        rate: Engine speaking rate before tempo compensation of ``shift``.
        pitch: Engine-native pitch offset, semitones.
        shift: Resample pitch/formant shift, semitones (tempo-compensated).
        speed: Speed perturbation factor (1.0 = none).
        rt60: Reverberation time in seconds (0.0 = no reverb).
        snr_db: Additive noise SNR in dB (``None`` = no noise).
        noise_colour: Colour of that noise.
        peak: Final peak amplitude.
        noise_seed: Seed of the generator for the noise and the room response.
    """

    index: int
    utt_id: str
    text: str
    preset: VoicePreset
    rate: float
    pitch: float
    shift: float
    speed: float
    rt60: float
    snr_db: float | None
    noise_colour: NoiseColour
    peak: float
    noise_seed: int


def plan_utterance(
    seed: int, index: int, presets: Sequence[VoicePreset], grammar: Grammar
) -> UtterancePlan:
    """Draw utterance ``index`` of the corpus with seed ``seed`` (pure function of its inputs)."""
    text_ss, voice_ss, aug_ss = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(3)
    text = grammar.sample(np.random.default_rng(text_ss))
    plan = _plan(index, text, presets, voice_ss, aug_ss)
    return replace(plan, utt_id=f"synth-{index:06d}-{plan.preset.speaker}")


def plan_spoken(
    seed: int, index: int, text: str, presets: Sequence[VoicePreset], prefix: str
) -> UtterancePlan:
    """Utterance ``index`` speaking a given ``text`` (a transcript), its voice and
    augmentation drawn as :func:`plan_utterance` draws them; its id ``<prefix>-<speaker>``."""
    _, voice_ss, aug_ss = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(3)
    plan = _plan(index, text, presets, voice_ss, aug_ss)
    return replace(plan, utt_id=f"{prefix}-{plan.preset.speaker}")


def _plan(
    index: int,
    text: str,
    presets: Sequence[VoicePreset],
    voice_ss: np.random.SeedSequence,
    aug_ss: np.random.SeedSequence,
) -> UtterancePlan:
    voice_rng = np.random.default_rng(voice_ss)
    weights = np.array([p.weight for p in presets], dtype=np.float64)
    preset = presets[int(voice_rng.choice(len(presets), p=weights / weights.sum()))]
    rate = preset.rate * float(voice_rng.uniform(1 - _RATE_JITTER, 1 + _RATE_JITTER))
    pitch = preset.pitch + float(voice_rng.uniform(-_PITCH_JITTER, _PITCH_JITTER))
    shift = preset.shift + float(voice_rng.uniform(-_SHIFT_JITTER, _SHIFT_JITTER))

    # Every value is drawn whether used or not, so the stream layout is fixed.
    aug_rng = np.random.default_rng(aug_ss)
    speed = float(aug_rng.uniform(*_SPEED_RANGE))
    use_speed = aug_rng.random() < _SPEED_PROB
    rt60 = float(aug_rng.uniform(*_REVERB_RT60))
    use_reverb = aug_rng.random() < _REVERB_PROB
    snr_db = float(aug_rng.uniform(*_SNR_DB))
    use_noise = aug_rng.random() < _NOISE_PROB
    colour = NOISE_COLOURS[int(aug_rng.integers(len(NOISE_COLOURS)))]
    peak = float(aug_rng.uniform(*_PEAK))
    noise_seed = int(aug_rng.integers(2**63 - 1))
    return UtterancePlan(
        index=index,
        utt_id="",
        text=text,
        preset=preset,
        rate=round(rate, 4),
        pitch=round(pitch, 3),
        shift=round(shift, 3),
        speed=round(speed, 4) if use_speed else 1.0,
        rt60=round(rt60, 3) if use_reverb else 0.0,
        snr_db=round(snr_db, 2) if use_noise else None,
        noise_colour=colour,
        peak=round(peak, 3),
        noise_seed=noise_seed,
    )


def render_utterance(plan: UtterancePlan, engine: TTSEngine, out_path: Path, tmp_dir: Path) -> int:
    """Synthesise, augment and write ``plan`` to ``out_path`` (16 kHz mono PCM_16 FLAC).

    The file is written under a temporary name and renamed, so an interrupted run never leaves
    a partial file at ``out_path``.

    Returns:
        Number of frames written.

    Raises:
        TTSError: the engine failed.
    """
    wav = tmp_dir / f"{plan.utt_id}.wav"
    factor = 2.0 ** (plan.shift / 12.0)
    try:
        # Speak slower by `factor` so the resample shift below restores the intended tempo.
        engine.synthesize(
            plan.text, plan.preset.voice, wav, rate=plan.rate / factor, pitch=plan.pitch
        )
        data, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    finally:
        wav.unlink(missing_ok=True)
    x = resample(np.ascontiguousarray(data.mean(axis=1), dtype=np.float32), int(sr), SAMPLE_RATE)
    x = shift_pitch(x, plan.shift)
    if plan.speed != 1.0:
        x = change_speed(x, plan.speed)
    rng = np.random.default_rng(plan.noise_seed)
    if plan.rt60 > 0:
        x = add_reverb(x, synthetic_rir(rng, plan.rt60, SAMPLE_RATE))
    if plan.snr_db is not None:
        x = add_noise(x, rng, plan.snr_db, plan.noise_colour)
    x = peak_normalize(x, plan.peak)
    tmp = out_path.with_name(out_path.name + ".tmp")
    sf.write(str(tmp), x, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    os.replace(tmp, out_path)
    return int(x.shape[0])
