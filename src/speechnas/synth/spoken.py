"""Synthetic speech in the languages of a corpus: its transcripts spoken by espeak-ng.

For a language with little recorded speech, :func:`speak_transcripts` has espeak-ng read each
training transcript in that language's voice, with one of several voice variants and the
synthetic corpus's augmentation (rate, pitch, formant shift, speed, reverberation, noise),
drawn from ``(seed, index)`` as in :mod:`speechnas.synth._render`. The result is a manifest
of new utterances (16 kHz FLAC) with the transcripts' language, one speaker per voice
variant, to add to the training set. Languages espeak-ng does not speak are skipped and
named. Files already rendered are reused, so an interrupted run goes on.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from speechnas.data.audio import SAMPLE_RATE
from speechnas.data.manifest import Utterance, write_manifest
from speechnas.errors import UserError
from speechnas.synth._render import UtterancePlan, plan_spoken, render_utterance
from speechnas.synth.engines import EspeakEngine, TTSError
from speechnas.synth.voices import VoicePreset
from speechnas.text import normalize

__all__ = ["VARIANTS", "SpokenResult", "speak_transcripts"]

logger = logging.getLogger(__name__)

#: espeak-ng voice variants the speakers are drawn from (male, female and Klatt voices).
VARIANTS: tuple[str, ...] = ("m1", "m3", "f2", "f4", "klatt")


@dataclass(frozen=True)
class SpokenResult:
    """What :func:`speak_transcripts` wrote.

    Attributes:
        manifest: the manifest of the synthetic utterances.
        utterances: those utterances.
        skipped_languages: languages of the transcripts that espeak-ng does not speak.
        failed: utterances whose synthesis failed (left out).
    """

    manifest: Path
    utterances: list[Utterance]
    skipped_languages: list[str]
    failed: int


def _presets(voice: str, variants: Sequence[str]) -> list[VoicePreset]:
    return [
        VoicePreset(f"espeak-{voice}-{v.lower()}", "espeak", f"{voice}+{v}", voice, "espeak")
        for v in variants
    ]


def speak_transcripts(
    utterances: Sequence[Utterance],
    out_dir: str | Path,
    *,
    copies: int = 1,
    variants: Sequence[str] = VARIANTS,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> SpokenResult:
    """Speak the transcripts of ``utterances`` in their languages (module docstring).

    Args:
        utterances: the transcripts (and their languages) to speak; those whose text has no
            word left after normalisation are left out.
        out_dir: where ``audio/`` and ``spoken.jsonl.gz`` go.
        copies: how many times each transcript is spoken (each with its own voice draw).
        variants: espeak-ng voice variants to draw speakers from (the installed ones).
        seed: seeds every voice and augmentation draw.
        workers: synthesis processes at once.
        progress: show a progress bar.

    Raises:
        UserError: espeak-ng is not installed, no variant of ``variants`` is, or none of the
            languages has an espeak-ng voice.
    """
    engine = EspeakEngine()
    if not engine.available():
        raise UserError("espeak-ng is not installed (apt-get install espeak-ng)")
    usable = [v for v in variants if v in engine.variants()]
    if not usable:
        raise UserError(f"none of the espeak-ng variants {list(variants)} is installed")
    languages = sorted({u.language for u in utterances})
    voices = {x: engine.voice_for(x) for x in languages}
    skipped = [x for x, v in voices.items() if v is None]
    if skipped:
        logger.warning("espeak-ng speaks none of %s: their transcripts are not spoken", skipped)
    if len(skipped) == len(languages):
        raise UserError(f"espeak-ng has no voice for any of the languages {languages}")
    out = Path(out_dir)
    audio = out / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    plans: list[tuple[UtterancePlan, Utterance]] = []
    for utt in utterances:
        voice = voices[utt.language]
        if voice is None or not normalize(utt.text, utt.language):
            continue
        for copy in range(copies):
            index = len(plans)
            prefix = f"spoken-{utt.id}-{copy}"
            plan = plan_spoken(seed, index, utt.text, _presets(voice, usable), prefix)
            plans.append((plan, utt))
    with (
        tempfile.TemporaryDirectory(prefix="speechnas-spoken-") as tmp,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        Progress(
            TextColumn("speaking transcripts"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not progress,
        ) as bar,
    ):
        task = bar.add_task("speak", total=len(plans))

        def render(plan: UtterancePlan) -> int | None:
            path = audio / f"{plan.utt_id}.flac"
            try:
                if path.is_file():
                    return int(sf.info(str(path)).frames)
                return render_utterance(plan, engine, path, Path(tmp))
            except (TTSError, sf.LibsndfileError, RuntimeError) as e:
                logger.warning("utterance %s dropped: %s", plan.utt_id, e)
                return None
            finally:
                bar.advance(task)

        frames = list(pool.map(render, [p for p, _ in plans]))
    made = [
        Utterance(
            id=plan.utt_id,
            audio_path=str((audio / f"{plan.utt_id}.flac").resolve()),
            duration=round(n / SAMPLE_RATE, 3),
            text=utt.text,
            speaker=plan.preset.speaker,
            language=utt.language,
        )
        for (plan, utt), n in zip(plans, frames, strict=True)
        if n is not None
    ]
    made.sort(key=lambda u: u.id)
    manifest = write_manifest(made, out / "spoken.jsonl.gz")
    return SpokenResult(manifest, made, skipped, sum(n is None for n in frames))
