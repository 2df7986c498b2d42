"""Offline text-to-speech engines driven as subprocesses: espeak-ng, flite and festival.

Each engine is a separate program, so synthesis runs outside the Python interpreter (threads are
enough to use several cores) and is deterministic: the same text, voice and options give the same
bytes (checked for espeak-ng 1.51, flite 2.2 and festival 2.5 with the kal diphone and slt HTS
voices). Nothing goes through a shell: arguments are passed as a list and the text is given on
stdin, as an option value or in a temporary file.

The engines come from Debian packages (``apt-get install espeak-ng flite festival
festvox-kallpc16k festvox-us-slt-hts``). An engine whose program is missing reports
``available() == False``; callers skip it with a warning instead of failing.

Example:
    >>> engine = get_engine("espeak")
    >>> if engine.available():
    ...     engine.synthesize("turn off the lights", "en-us+f2", "/tmp/lights.wav")
"""

from __future__ import annotations

import abc
import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

__all__ = [
    "ENGINES",
    "EspeakEngine",
    "FestivalEngine",
    "FliteEngine",
    "TTSEngine",
    "TTSError",
    "get_engine",
]


class TTSError(RuntimeError):
    """Synthesis failed: the engine exited non-zero, complained, timed out or wrote no audio."""

    def __init__(self, engine: str, voice: str, detail: str) -> None:
        self.engine = engine
        self.voice = voice
        self.detail = detail
        super().__init__(f"{engine} voice {voice!r}: {detail}")


class TTSEngine(abc.ABC):
    """A text-to-speech program that writes WAV files.

    Contract every implementation follows:

    - ``name``: short stable id (``"espeak"``), used in speaker ids and ``--engines``.
    - ``available() -> bool``: cheap (no synthesis); ``True`` when the program is on ``PATH``.
      Never raises.
    - ``voices() -> list[str]``: sorted names of the installed voices that ``synthesize``
      accepts; ``[]`` when the engine is unavailable. Never raises. Computed once per instance.
    - ``synthesize(text, voice, out_wav_path, *, rate=1.0, pitch=0.0)``: write ``text`` spoken by
      ``voice`` to ``out_wav_path`` as a mono 16-bit WAV at the engine's native sample rate.
      ``rate`` multiplies the speaking rate (``> 1`` is faster). ``pitch`` raises the voice by
      roughly that many semitones where the engine can (see ``supports_pitch``) and is ignored
      otherwise. Deterministic: equal arguments give byte-identical files. Raises
      :class:`TTSError` on any failure, including a voice that is not installed (several
      programs silently fall back to a default voice, so the voice is checked first), and
      ``ValueError`` for ``rate <= 0``.

    Instances hold no per-call state, so one instance may be shared by several threads.
    """

    name: ClassVar[str]
    #: Programs that must all be on PATH.
    programs: ClassVar[tuple[str, ...]]
    #: Seconds before a synthesis call is killed.
    timeout_s: ClassVar[float] = 120.0

    def __init__(self) -> None:
        self._voices: list[str] | None = None

    def available(self) -> bool:
        return all(shutil.which(p) is not None for p in self.programs)

    def voices(self) -> list[str]:
        if self._voices is None:
            try:
                self._voices = sorted(set(self._list_voices())) if self.available() else []
            except (OSError, subprocess.SubprocessError, TTSError):
                self._voices = []
        return list(self._voices)

    def supports_pitch(self, voice: str) -> bool:
        """Whether ``synthesize(..., pitch=...)`` changes the pitch of ``voice``."""
        return False

    @abc.abstractmethod
    def _list_voices(self) -> list[str]:
        """Ask the program for its voices (may raise; :meth:`voices` catches)."""

    @abc.abstractmethod
    def synthesize(
        self,
        text: str,
        voice: str,
        out_wav_path: str | os.PathLike[str],
        *,
        rate: float = 1.0,
        pitch: float = 0.0,
    ) -> None:
        """Write ``text`` spoken by ``voice`` to ``out_wav_path`` (see the class contract)."""

    def _run(self, args: list[str], voice: str, *, stdin: str | None = None) -> str:
        """Run ``args`` without a shell; return stderr, raise :class:`TTSError` on failure."""
        try:
            proc = subprocess.run(
                args,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError as e:
            raise TTSError(self.name, voice, f"program not found: {args[0]}") from e
        except subprocess.TimeoutExpired as e:
            raise TTSError(self.name, voice, f"timed out after {self.timeout_s:.0f} s") from e
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()[-300:]
            raise TTSError(self.name, voice, f"exit code {proc.returncode}: {tail}")
        return proc.stderr

    def _check_voice(self, voice: str) -> None:
        if voice not in self.voices():
            raise TTSError(self.name, voice, "voice not installed")

    def _check_wav(self, path: Path, voice: str) -> None:
        # A 44-byte RIFF header with no samples means the engine produced nothing.
        if not path.is_file() or path.stat().st_size <= 44:
            raise TTSError(self.name, voice, f"no audio written to {path}")


def _check_rate(rate: float) -> None:
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")


# Language codes whose espeak-ng voice has another name (Chinese by its spoken language).
_ESPEAK_ALIASES = {"zh": "cmn", "zh-cn": "cmn", "zh-tw": "cmn", "zh-hk": "yue"}


class EspeakEngine(TTSEngine):
    """espeak-ng (formant synthesis, 22.05 kHz). Many accents and voice variants, very fast.

    Voices are those of every language listed by ``espeak-ng --voices`` (``en-us``,
    ``en-gb-scotland``, ``de``, ``fr-fr``, ...), excluding MBROLA voices (they need the
    separate ``mbrola`` program); :meth:`voice_for` names the one that speaks a language.
    ``synthesize`` also accepts ``"<voice>+<variant>"`` with a variant from :meth:`variants`
    (``en-us+f2``, ``en-gb+klatt``): espeak-ng silently ignores unknown variants, so they are
    checked here. ``rate`` scales the default 175 words per minute (``-s``); ``pitch`` moves
    ``-p`` (0-99, default 50) by 4 steps per semitone, a rough equivalence.
    """

    name = "espeak"
    programs = ("espeak-ng",)
    _base_wpm: ClassVar[int] = 175

    def __init__(self) -> None:
        super().__init__()
        self._variants: list[str] | None = None

    def _list_voices(self) -> list[str]:
        table = self._voice_table(None)
        # "variant" rows are voice variants listed among the languages; "mb/" rows are MBROLA.
        return [lang for lang, file in table if lang != "variant" and not file.startswith("mb/")]

    def variants(self) -> list[str]:
        """Installed voice variants (``m1``, ``f2``, ``klatt``, ...), sorted."""
        if self._variants is None:
            try:
                table = self._voice_table("variant") if self.available() else []
            except (OSError, subprocess.SubprocessError, TTSError):
                table = []
            self._variants = sorted({file.split("/", 1)[1] for _, file in table if "/" in file})
        return list(self._variants)

    def voice_for(self, language: str) -> str | None:
        """The installed voice that speaks ``language`` (a code such as ``de``, ``pt-BR``,
        ``fy-NL``): the voice of that exact name, else of its primary subtag, else the
        primary subtag's own regional voice (``fr`` -> ``fr-fr``); None when there is none."""
        voices = set(self.voices())
        code = language.replace("_", "-").lower()
        primary = code.split("-", 1)[0]
        alias = _ESPEAK_ALIASES.get(code, _ESPEAK_ALIASES.get(primary, code))
        for candidate in (code, alias, primary, f"{primary}-{primary}"):
            if candidate in voices:
                return candidate
        return None

    def _voice_table(self, which: str | None) -> list[tuple[str, str]]:
        out = subprocess.run(
            ["espeak-ng", "--voices" if which is None else f"--voices={which}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        rows: list[tuple[str, str]] = []
        for line in out.splitlines()[1:]:  # skip the header row
            cols = line.split()
            # Columns: Pty Language Age/Gender VoiceName File [Other languages...]
            if len(cols) >= 5:
                rows.append((cols[1], cols[4]))
        return rows

    def supports_pitch(self, voice: str) -> bool:
        return True

    def synthesize(
        self,
        text: str,
        voice: str,
        out_wav_path: str | os.PathLike[str],
        *,
        rate: float = 1.0,
        pitch: float = 0.0,
    ) -> None:
        _check_rate(rate)
        base, _, variant = voice.partition("+")
        self._check_voice(base)
        if variant and variant not in self.variants():
            raise TTSError(self.name, voice, f"variant {variant!r} not installed")
        out = Path(out_wav_path)
        wpm = min(450, max(80, round(self._base_wpm * rate)))
        pitch_arg = min(99, max(0, round(50 + 4 * pitch)))
        args = ["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch_arg)]
        self._run([*args, "-w", str(out), "--stdin"], voice, stdin=text)
        self._check_wav(out, voice)


class FliteEngine(TTSEngine):
    """CMU flite (diphone and clustergen voices, 16 kHz). Fast.

    Voices are those listed by ``flite -lv`` except limited-domain ones (``awb_time`` only
    speaks clock times). ``rate`` sets ``duration_stretch = 1 / rate``; ``pitch`` is ignored:
    flite's ``int_f0_target_mean`` needs each voice's own mean and some voices ignore it.
    """

    name = "flite"
    programs = ("flite",)

    def _list_voices(self) -> list[str]:
        out = subprocess.run(
            ["flite", "-lv"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        _, _, names = out.partition(":")
        return [v for v in names.split() if not v.endswith("_time")]

    def synthesize(
        self,
        text: str,
        voice: str,
        out_wav_path: str | os.PathLike[str],
        *,
        rate: float = 1.0,
        pitch: float = 0.0,
    ) -> None:
        _check_rate(rate)
        self._check_voice(voice)  # flite falls back to its default voice without an error
        out = Path(out_wav_path)
        stretch = f"duration_stretch={1.0 / rate:.4f}"
        self._run(["flite", "-voice", voice, "--setf", stretch, "-t", text, "-o", str(out)], voice)
        self._check_wav(out, voice)


class FestivalEngine(TTSEngine):
    """The Festival speech synthesis system via ``text2wave`` (kal diphone 16 kHz, slt HTS 32 kHz).

    Voices are those of ``(voice.list)``, e.g. ``kal_diphone`` and ``cmu_us_slt_arctic_hts``.
    Slower than the others (about 0.5 s per call, mostly loading the voice). ``rate`` sets
    ``Duration_Stretch`` (HTS voices ignore it, so they get the hts_engine ``-r`` speed option
    instead). ``pitch`` scales the target F0 mean and deviation of the intonation model of
    non-HTS voices; HTS voices ignore it.
    """

    name = "festival"
    programs = ("text2wave", "festival")

    def _list_voices(self) -> list[str]:
        out = subprocess.run(
            ["festival", "--batch", "(print (voice.list))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return out.replace("(", " ").replace(")", " ").split()

    def supports_pitch(self, voice: str) -> bool:
        return not voice.endswith("_hts")

    def synthesize(
        self,
        text: str,
        voice: str,
        out_wav_path: str | os.PathLike[str],
        *,
        rate: float = 1.0,
        pitch: float = 0.0,
    ) -> None:
        _check_rate(rate)
        self._check_voice(voice)
        out = Path(out_wav_path)
        evals = [f"(voice_{voice})"]
        if voice.endswith("_hts"):
            speed = f'(list (list "-r" {rate:.4f}))'
            evals.append(f"(set! hts_engine_params (append hts_engine_params {speed}))")
        else:
            evals.append(f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})")
            if pitch:
                factor = 2.0 ** (pitch / 12.0)
                evals.append(
                    "(set! int_lr_params (mapcar (lambda (p) (if (or (equal? (car p) "
                    "'target_f0_mean) (equal? (car p) 'target_f0_std)) "
                    f"(list (car p) (* {factor:.4f} (cadr p))) p)) int_lr_params))"
                )
        text_path = out.with_name(out.name + ".txt")
        text_path.write_text(text + "\n", encoding="utf-8")
        try:
            args = ["text2wave"]
            for expr in evals:
                args += ["-eval", expr]
            stderr = self._run([*args, str(text_path), "-o", str(out)], voice)
        finally:
            text_path.unlink(missing_ok=True)
        # Festival reports Scheme errors on stderr but still exits 0 (with the default voice).
        if "SIOD ERROR" in stderr or "error" in stderr.lower():
            raise TTSError(self.name, voice, stderr.strip()[-300:])
        self._check_wav(out, voice)


#: Engine name -> class. The order is the default engine order.
ENGINES: dict[str, type[TTSEngine]] = {
    EspeakEngine.name: EspeakEngine,
    FliteEngine.name: FliteEngine,
    FestivalEngine.name: FestivalEngine,
}


def get_engine(name: str) -> TTSEngine:
    """A new engine instance by name (``"espeak"``, ``"flite"``, ``"festival"``).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown TTS engine {name!r}; known: {', '.join(ENGINES)}") from None
