"""A text-to-speech corpus: per utterance its text tokens, log-mel frames, each token's
duration in frames, and its pitch and energy, prepared once offline.

* **Text**: the transcript normalised as the recogniser's (:func:`speechnas.text.normalize`:
  lower case, punctuation dropped), one character per token
  (:class:`~speechnas.text.CharTokenizer`: ``0`` is the padding as it is the CTC blank).
* **Mel**: :data:`TTS_FRONTEND` (80 bands, 25 ms windows every 10 ms at 16 kHz, natural-log
  power without normalisation): what the acoustic model predicts, what Griffin-Lim inverts
  and what mel L1 and MCD compare.
* **Durations**: the CTC forced alignment (:mod:`speechnas.models.align`) of the transcript
  through a recogniser trained on the same voice (the project trains it: nothing is
  downloaded), in its encoder's frames, rescaled to the mel frames; they sum to the mel
  length exactly.
* **Pitch and energy**: per frame (YIN F0 and the spectral norm,
  :mod:`speechnas.features.prosody`), averaged over each token's frames (pitch over the voiced
  ones), stored raw; :func:`normalised_variance` gives them normalised by the training
  set's mean and deviation (:func:`variance_stats`), as the model's quantised embeddings
  expect.

A corpus is stored as one file (:meth:`TTSCorpus.save`, :meth:`TTSCorpus.load`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from speechnas.data.audio import load_audio
from speechnas.data.manifest import Utterance
from speechnas.errors import AudioError, UserError
from speechnas.features.mel import LogMel
from speechnas.features.prosody import frame_energy, frame_pitch, per_token
from speechnas.models import SpeechModel
from speechnas.models.align import ctc_forced_align, resample_durations, token_durations
from speechnas.text import CharTokenizer, Tokenizer, normalize, tokenizer_from_state
from speechnas.train.checkpoint import read_saved

__all__ = [
    "TTS_FRONTEND",
    "TTSCorpus",
    "TTSUtterance",
    "align_corpus",
    "normalised_variance",
    "tts_text",
    "variance_stats",
]

#: The mel front-end of every TTS corpus (module docstring).
TTS_FRONTEND: dict[str, Any] = {
    "n_mels": 80,
    "sample_rate": 16_000,
    "n_fft": 512,
    "win_length": 400,
    "hop_length": 160,
}

_FORMAT = 1


def tts_text(text: str, language: str = "en") -> str:
    """The text a model reads for ``text``: normalised as a transcript is."""
    return normalize(text, language)


def log_mel(wave: np.ndarray) -> Tensor:
    """(S,) 16 kHz samples -> (T, 80) natural-log mel power (:data:`TTS_FRONTEND`)."""
    fe = LogMel(**TTS_FRONTEND, normalize="none")
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32))[None]
    feats, _ = fe(x, torch.tensor([x.shape[1]]))
    out: Tensor = feats[0]
    return out


@dataclass(frozen=True, eq=False)  # compared by identity: it holds a tensor
class TTSUtterance:
    """One prepared utterance (module docstring); ``durations`` sum to ``mel``'s frames."""

    id: str
    text: str
    tokens: tuple[int, ...]
    mel: Tensor  # (T, M)
    durations: tuple[int, ...]
    pitch: tuple[float, ...]  # Hz per token, 0 where no frame of it is voiced
    energy: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if not len(self.durations) == len(self.pitch) == len(self.energy) == n:
            raise ValueError(f"{self.id}: per-token fields differ in length from the tokens")
        if sum(self.durations) != self.mel.shape[0]:
            raise ValueError(
                f"{self.id}: durations sum to {sum(self.durations)}, the mel has "
                f"{self.mel.shape[0]} frames"
            )


def variance_stats(utterances: Sequence[TTSUtterance]) -> dict[str, tuple[float, float]]:
    """Mean and deviation of pitch (voiced tokens) and energy (tokens of at least one frame)
    over ``utterances`` (the training set's: held-out sentences stay unseen)."""
    pitch = np.array([p for u in utterances for p in u.pitch if p > 0])
    energy = np.array(
        [e for u in utterances for d, e in zip(u.durations, u.energy, strict=True) if d > 0]
    )
    out = {}
    for name, values in (("pitch", pitch), ("energy", energy)):
        if len(values) == 0:
            out[name] = (0.0, 1.0)
        else:
            out[name] = (float(values.mean()), float(values.std()) or 1.0)
    return out


def normalised_variance(
    u: TTSUtterance, stats: dict[str, tuple[float, float]]
) -> tuple[Tensor, Tensor]:
    """``u``'s per-token pitch and energy as (N,) float32, normalised by ``stats``
    (:func:`variance_stats`). A token with no voiced frame gets the mean pitch, one of no
    frame the mean energy: 0 either way."""
    pm, ps = stats["pitch"]
    em, es = stats["energy"]
    pitch = [(p - pm) / ps if p > 0 else 0.0 for p in u.pitch]
    energy = [(e - em) / es if d > 0 else 0.0 for d, e in zip(u.durations, u.energy, strict=True)]
    return torch.tensor(pitch, dtype=torch.float32), torch.tensor(energy, dtype=torch.float32)


@dataclass(frozen=True)
class TTSCorpus:
    """Prepared utterances and the tokenizer their tokens come from.

    Attributes:
        utterances: in the order prepared.
        tokenizer: characters -> token ids (the aligner's).
        skipped: ids not prepared, each with why (no CTC path, unreadable audio).
    """

    utterances: tuple[TTSUtterance, ...]
    tokenizer: Tokenizer
    skipped: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.utterances)

    def split(self, held_out: int, seed: int = 0) -> tuple[list[TTSUtterance], list[TTSUtterance]]:
        """(train, held-out): ``held_out`` utterances drawn by ``seed``, the rest to train.

        Raises:
            ValueError: ``held_out`` leaves no training utterance.
        """
        if not 0 <= held_out < len(self.utterances):
            raise ValueError(f"held_out={held_out} of {len(self.utterances)} utterances")
        order = np.random.default_rng(seed).permutation(len(self.utterances))
        test = set(order[:held_out].tolist())
        train = [u for i, u in enumerate(self.utterances) if i not in test]
        return train, [u for i, u in enumerate(self.utterances) if i in test]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the corpus to ``path`` atomically (a kill never leaves half a file).

        Raises:
            OSError: it cannot be written (naming ``path``).
        """
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": _FORMAT,
            "frontend": dict(TTS_FRONTEND),
            "tokenizer": self.tokenizer.to_state(),
            "skipped": [list(s) for s in self.skipped],
            "utterances": [
                {
                    "id": u.id,
                    "text": u.text,
                    "tokens": list(u.tokens),
                    "mel": u.mel.to(torch.float32).contiguous(),
                    "durations": list(u.durations),
                    "pitch": list(u.pitch),
                    "energy": list(u.energy),
                }
                for u in self.utterances
            ],
        }
        tmp = p.with_name(p.name + ".tmp")
        try:  # through a Python file: a full disk is an OSError naming the file
            with open(tmp, "wb") as f:
                torch.save(state, f)
            os.replace(tmp, p)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise OSError(e.errno, e.strerror, str(p)) from e
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TTSCorpus:
        """The corpus :meth:`save` wrote to ``path``.

        Raises:
            UserError: not a TTS corpus file of this version, prepared with another
                front-end, or damaged (naming the file).
        """
        p = Path(path)
        state = read_saved(p, "TTS corpus")
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise UserError(f"{p}: not a TTS corpus file of format {_FORMAT}")
        if state.get("frontend") != TTS_FRONTEND:
            raise UserError(
                f"{p}: prepared with front-end {state['frontend']}, not {TTS_FRONTEND}"
            )
        try:
            return cls(
                utterances=tuple(
                    TTSUtterance(
                        id=u["id"],
                        text=u["text"],
                        tokens=tuple(u["tokens"]),
                        mel=u["mel"],
                        durations=tuple(u["durations"]),
                        pitch=tuple(u["pitch"]),
                        energy=tuple(u["energy"]),
                    )
                    for u in state["utterances"]
                ),
                tokenizer=tokenizer_from_state(state["tokenizer"]),
                skipped=tuple((a, b) for a, b in state["skipped"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise UserError(f"{p}: a damaged TTS corpus: {type(e).__name__}: {e}") from e


def _prosody(
    wave: np.ndarray, durations: Sequence[int], frames: int
) -> tuple[list[float], list[float]]:
    f = TTS_FRONTEND
    kw = {"win_length": f["win_length"], "hop_length": f["hop_length"]}
    pitch = frame_pitch(wave.astype(np.float64), f["sample_rate"], **kw)
    energy = frame_energy(wave.astype(np.float64), n_fft=f["n_fft"], **kw)
    pitch, energy = (np.pad(t, (0, max(0, frames - len(t))))[:frames] for t in (pitch, energy))
    return (
        per_token(pitch, durations, voiced_only=True).tolist(),
        per_token(energy, durations).tolist(),
    )


def _prepare_one(utt: Utterance, aligner: SpeechModel, tokenizer: Tokenizer) -> TTSUtterance | str:
    """``utt`` prepared, or why it cannot be."""
    try:
        wave = load_audio(utt.audio_path, TTS_FRONTEND["sample_rate"])
    except AudioError as e:
        return str(e)
    text = tts_text(utt.text, utt.language)
    tokens = tokenizer.encode(text)
    if not tokens or tokenizer.unk_id in tokens:
        return "empty text, or characters the aligner does not know"
    with torch.no_grad():
        x = torch.as_tensor(wave)[None]
        lp, lens = aligner.ctc_log_probs(x, torch.tensor([x.shape[1]]))
        log_probs = lp[0, : int(lens[0])]
    try:
        starts = ctc_forced_align(log_probs, tokens, blank=tokenizer.blank_id)
    except ValueError as e:
        return str(e)
    mel = log_mel(wave)
    frames = mel.shape[0]
    durations = resample_durations(token_durations(starts, log_probs.shape[0]), frames)
    pitch, energy = _prosody(wave, durations, frames)
    return TTSUtterance(
        utt.id, text, tuple(tokens), mel, tuple(durations), tuple(pitch), tuple(energy)
    )


def align_corpus(
    utterances: Sequence[Utterance],
    aligner: SpeechModel,
    tokenizer: Tokenizer,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> TTSCorpus:
    """Prepare ``utterances`` (module docstring) with the CTC recogniser ``aligner`` and its
    ``tokenizer``. An utterance that cannot be prepared (unreadable audio, text with
    characters the aligner does not know, too short for its text) is skipped with its reason.
    ``on_progress`` gets the count of utterances done (prepared or skipped).

    Raises:
        UserError: the tokenizer is not a character tokenizer, or the aligner has no CTC
            projection.
    """
    if not isinstance(tokenizer, CharTokenizer):
        raise UserError("a TTS corpus needs a character tokenizer (one token per character)")
    if not aligner.has_ctc:
        raise UserError("the aligner has no CTC projection (a transducer): it cannot align")
    aligner.eval()
    prepared, skipped = [], []
    for done, utt in enumerate(utterances, 1):
        result = _prepare_one(utt, aligner, tokenizer)
        if isinstance(result, str):
            skipped.append((utt.id, result))
        else:
            prepared.append(result)
        if on_progress is not None:
            on_progress(done)
    return TTSCorpus(tuple(prepared), tokenizer, tuple(skipped))
