"""The synthetic speakers: voice presets, a check that each one works, and held-out splits.

A :class:`VoicePreset` is one speaker of the corpus: an engine voice plus fixed rate, pitch and
resample shift. Presets that share a recorded person (flite's ``slt`` and festival's slt HTS
voice, or a shifted copy of a voice) share a ``group``; dev and test hold out whole groups, so
they measure generalisation to voices the model never heard in any form.

Example:
    >>> presets = [p for p in DEFAULT_VOICES if p.engine == "espeak"]
    >>> splits = assign_splits(presets, seed=0)
    >>> sorted(set(splits.values()))
    ['dev', 'test', 'train']
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechnas.errors import UserError
from speechnas.synth.engines import EspeakEngine, TTSEngine, TTSError

__all__ = ["DEFAULT_VOICES", "SPLITS", "VoicePreset", "assign_splits", "usable_voices"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
#: Fraction of voice groups of each engine family held out for dev, and again for test.
_HELD_OUT_FRACTION = 0.15
_PROBE_TEXT = "hello there"


@dataclass(frozen=True)
class VoicePreset:
    """One synthetic speaker.

    Attributes:
        speaker: Speaker id written to manifests (unique; letters, digits and ``-``).
        engine: Engine name (``"espeak"``, ``"flite"``, ``"festival"``).
        voice: Engine voice, e.g. ``"en-gb-scotland+f3"`` or ``"kal_diphone"``.
        group: The underlying voice; presets in one group always land in the same split.
        family: Engine family for stratifying held-out groups (``"espeak"`` or ``"cmu"``: flite
            and festival use the same CMU recordings).
        rate: Speaking-rate multiplier (``> 1`` faster).
        pitch: Engine-native pitch offset in semitones (ignored by engines without one).
        shift: Resample pitch/formant shift in semitones, tempo-compensated
            (see :mod:`speechnas.synth.augment`).
        weight: Relative share of utterances. Festival is ~10x slower per call than the others,
            but its voices are the most natural, so they get a larger share per voice.
    """

    speaker: str
    engine: str
    voice: str
    group: str
    family: str
    rate: float = 1.0
    pitch: float = 0.0
    shift: float = 0.0
    weight: float = 1.0


def _espeak(accent: str, variant: str, rate: float = 1.0, pitch: float = 0.0) -> VoicePreset:
    speaker = f"espeak-{accent}-{variant.lower()}"
    return VoicePreset(
        speaker, "espeak", f"{accent}+{variant}", speaker, "espeak", rate, pitch, 0.0, 1.0
    )


def _cmu(
    engine: str,
    voice: str,
    person: str,
    suffix: str = "",
    *,
    pitch: float = 0.0,
    shift: float = 0.0,
) -> VoicePreset:
    weight = 2.5 if engine == "festival" else 1.75
    name = person + (f"-{suffix}" if suffix else "")
    return VoicePreset(
        f"{engine}-{name}", engine, voice, f"cmu-{person}", "cmu", 1.0, pitch, shift, weight
    )


#: 24 espeak-ng speakers (8 accents x 3 variants) and 12 flite/festival speakers from 4 people.
DEFAULT_VOICES: tuple[VoicePreset, ...] = (
    _espeak("en-us", "m1"),
    _espeak("en-us", "f2", pitch=1.0),
    _espeak("en-us", "klatt", rate=0.92),
    _espeak("en-us", "Andrea", rate=0.95),
    _espeak("en-us", "david", rate=0.9, pitch=-1.0),
    _espeak("en-gb", "m3", rate=1.05),
    _espeak("en-gb", "f1"),
    _espeak("en-gb", "grandpa", rate=0.85),
    _espeak("en-gb-scotland", "m2", rate=0.95),
    _espeak("en-gb-scotland", "f3", pitch=-1.0),
    _espeak("en-gb-x-rp", "m4", rate=0.9),
    _espeak("en-gb-x-rp", "f4", rate=1.05),
    _espeak("en-gb-x-rp", "belinda"),
    _espeak("en-029", "m5", rate=0.92),
    _espeak("en-029", "f5", pitch=1.5),
    _espeak("en-gb-x-gbclan", "m6"),
    _espeak("en-gb-x-gbclan", "steph", rate=0.95),
    _espeak("en-gb-x-gbcwmd", "m7", rate=1.05),
    _espeak("en-gb-x-gbcwmd", "linda", rate=0.9),
    _espeak("en-us-nyc", "m8", pitch=1.0),
    _espeak("en-us-nyc", "Annie", rate=1.05),
    _espeak("en-us-nyc", "klatt4", rate=0.95),
    _espeak("en-gb", "klatt2", pitch=-2.0),
    _espeak("en-us", "max", rate=1.0, pitch=2.0),
    _cmu("flite", "kal16", "kal"),
    _cmu("flite", "kal16", "kal", "lo", shift=-2.0),
    _cmu("flite", "awb", "awb"),
    _cmu("flite", "awb", "awb", "hi", shift=2.5),
    _cmu("flite", "rms", "rms"),
    _cmu("flite", "rms", "rms", "hi", shift=2.0),
    _cmu("flite", "slt", "slt"),
    _cmu("flite", "slt", "slt", "lo", shift=-3.0),
    _cmu("festival", "kal_diphone", "kal"),
    _cmu("festival", "kal_diphone", "kal", "hi", pitch=4.0),
    _cmu("festival", "cmu_us_slt_arctic_hts", "slt"),
    _cmu("festival", "cmu_us_slt_arctic_hts", "slt", "lo", shift=-2.5),
)


def _voice_installed(engine: TTSEngine, voice: str) -> bool:
    base, _, variant = voice.partition("+")
    if base not in engine.voices():
        return False
    return not variant or not isinstance(engine, EspeakEngine) or variant in engine.variants()


def usable_voices(
    presets: Iterable[VoicePreset],
    engines: Sequence[TTSEngine],
    *,
    workers: int = 2,
) -> tuple[list[VoicePreset], list[str]]:
    """Keep the presets whose engine is given and whose voice is installed and speaks.

    Each distinct (engine, voice) is synthesised once with a short phrase; a voice that is not
    installed or fails is skipped with a warning, never an error.

    Args:
        presets: Candidate speakers.
        engines: Available engine instances; presets of other engines are dropped silently.
        workers: Threads for the probe synthesis.

    Returns:
        ``(usable presets in input order, sorted "engine:voice" strings that were skipped)``.
    """
    by_name = {e.name: e for e in engines}
    candidates = [p for p in presets if p.engine in by_name]
    pairs = sorted({(p.engine, p.voice) for p in candidates})

    def probe(index: int, tmp: Path) -> str | None:
        engine_name, voice = pairs[index]
        engine = by_name[engine_name]
        if not _voice_installed(engine, voice):
            return "not installed"
        out = tmp / f"probe-{index}.wav"
        try:
            engine.synthesize(_PROBE_TEXT, voice, out)
        except TTSError as e:
            return e.detail
        return None

    with tempfile.TemporaryDirectory(prefix="speechnas-probe-") as tmp:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            problems = list(pool.map(lambda i: probe(i, Path(tmp)), range(len(pairs))))
    bad = {pair for pair, problem in zip(pairs, problems, strict=True) if problem is not None}
    for pair, problem in zip(pairs, problems, strict=True):
        if problem is not None:
            logger.warning("skipping %s voice %r: %s", pair[0], pair[1], problem)
    usable = [p for p in candidates if (p.engine, p.voice) not in bad]
    return usable, sorted(f"{e}:{v}" for e, v in bad)


def _stratified_holdout(
    units: Mapping[str, tuple[str, float]], rng: np.random.Generator
) -> tuple[set[str], set[str]]:
    """Pick dev and test units (groups or speakers) per family by utterance share.

    Args:
        units: Unit -> (family, share of utterances, i.e. summed preset weight).
        rng: Chooses the order in which units are considered.

    Returns:
        ``(dev, test)``. In each family with at least three units, each split takes units in
        random order while their share stays within ~15% of the family's (up to 1.25x that),
        and at least the lightest remaining unit, so one heavy voice cannot take a whole split.
    """
    dev: set[str] = set()
    test: set[str] = set()
    for family in sorted({f for f, _ in units.values()}):
        members = sorted(u for u, (f, _) in units.items() if f == family)
        if len(members) < 3:
            continue
        order = [members[i] for i in rng.permutation(len(members))]
        budget = 1.25 * _HELD_OUT_FRACTION * sum(units[u][1] for u in members)
        for chosen in (test, dev):
            share = 0.0
            for unit in order:
                if unit not in dev | test and share + units[unit][1] <= budget:
                    chosen.add(unit)
                    share += units[unit][1]
            if share == 0.0:
                rest = [u for u in order if u not in dev | test]
                chosen.add(min(rest, key=lambda u: units[u][1]))
    return dev, test


def assign_splits(presets: Sequence[VoicePreset], seed: int) -> dict[str, str]:
    """Map each speaker to ``"train"``, ``"dev"`` or ``"test"``, holding out whole voice groups.

    Within each engine family, groups carrying about 15% of the family's utterances (by preset
    weight) go to dev and as much again to test, at least one group each when the family has
    three or more; the choice is random, seeded by ``seed``. When that leaves dev or test empty
    (few voices installed), single speakers are held out instead of groups, with a warning:
    splits stay speaker-disjoint but related voices may cross them.

    Raises:
        UserError: fewer than three speakers, so no speaker-disjoint three-way split exists.
    """
    if len({p.speaker for p in presets}) < 3:
        raise UserError(
            f"need at least 3 usable voices for speaker-disjoint train/dev/test splits, got "
            f"{len(presets)}; install more TTS engines (apt-get install espeak-ng flite festival)"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5D17]))
    groups: dict[str, tuple[str, float]] = {}
    for p in presets:
        family, weight = groups.get(p.group, (p.family, 0.0))
        groups[p.group] = (family, weight + p.weight)
    dev, test = _stratified_holdout(groups, rng)
    if dev and test:
        return {p.speaker: _split_of(p.group, dev, test) for p in presets}
    logger.warning("too few voice groups for group-disjoint splits; holding out single voices")
    speakers = {p.speaker: (p.family, p.weight) for p in presets}
    dev, test = _stratified_holdout(speakers, rng)
    if not (dev and test):
        # Families too small on their own: hold out across all speakers at once.
        dev, test = _stratified_holdout({k: ("all", w) for k, (_, w) in speakers.items()}, rng)
    return {p.speaker: _split_of(p.speaker, dev, test) for p in presets}


def _split_of(key: str, dev: set[str], test: set[str]) -> str:
    return "dev" if key in dev else "test" if key in test else "train"
