"""How good a trained TTS model is on held-out sentences.

Each held-out sentence is synthesised from its text alone (predicted durations, pitch and
energy) and compared with its recording: mel-cepstral distortion and mel L1 over the DTW
path (:mod:`speechnas.evaluate.tts`), and the error of the predicted total length. For the
first ``intelligibility_count`` of them the mel also becomes audio (Griffin-Lim,
:mod:`speechnas.features.griffin_lim`) that an independent recogniser (PocketSphinx,
:mod:`speechnas.evaluate.intelligibility`) transcribes: its CER against the text. The
recordings themselves, through the same Griffin-Lim, give the vocoder's own floor
(``floor_cer``), so a reader sees how much of the error is the vocoder's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from speechnas.evaluate.intelligibility import IndependentRecognizer, intelligibility
from speechnas.evaluate.tts import mel_cepstral_distortion, mel_l1
from speechnas.features.griffin_lim import vocode
from speechnas.features.mel import LogMel
from speechnas.models.tts import AcousticModel
from speechnas.tts.corpus import TTS_FRONTEND, TTSUtterance
from speechnas.tts.train import MelNorm

__all__ = ["TTSScores", "score_tts", "synthesise"]


@torch.no_grad()
def synthesise(model: AcousticModel, norm: MelNorm, tokens: Sequence[int]) -> Tensor:
    """(T, M) natural-log mel power of ``tokens``, from the model's own predictions."""
    model.eval()
    x = torch.tensor([list(tokens)])
    out = model(x, torch.tensor([len(tokens)]))
    frames = int(out["mel_lens"][0])
    mel: Tensor = norm.undo(out["mel"][0, :frames])
    return mel


@dataclass(frozen=True)
class TTSScores:
    """Means over the held-out sentences (module docstring); ``cer``/``floor_cer`` are
    ``None`` where intelligibility was not scored."""

    mcd_db: float
    mel_l1: float
    length_error: float  # mean |predicted frames / recorded frames - 1|
    sentences: int
    cer: float | None = None
    wer: float | None = None
    floor_cer: float | None = None
    heard: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def score_tts(
    model: AcousticModel,
    norm: MelNorm,
    held_out: Sequence[TTSUtterance],
    *,
    intelligibility_count: int = 0,
    griffin_lim_iterations: int = 32,
    recognizer: IndependentRecognizer | None = None,
    floor: bool = True,
) -> TTSScores:
    """Score ``model`` on ``held_out`` (module docstring).

    Args:
        norm: the mel normalisation the model was trained with.
        intelligibility_count: held-out sentences (the first ones) also heard by the
            independent recogniser; 0: none.
        griffin_lim_iterations: of the vocoder, for those.
        recognizer: the independent recogniser (default: PocketSphinx, loaded once here).
        floor: also hear the recordings through the same vocoder (``floor_cer``); a
            search scoring many models of one corpus leaves it out.

    Raises:
        ValueError: no held-out sentence, or a negative ``intelligibility_count``.
        UserError: intelligibility asked for without PocketSphinx installed.
    """
    if not held_out:
        raise ValueError("no held-out sentence to score")
    if intelligibility_count < 0:
        raise ValueError(f"intelligibility_count={intelligibility_count!r}; expected >= 0")
    mcd, l1, length = [], [], []
    synthesised = []
    for u in held_out:
        mel = synthesise(model, norm, u.tokens)
        synthesised.append(mel)
        mcd.append(mel_cepstral_distortion(mel, u.mel))
        l1.append(mel_l1(mel, u.mel))
        length.append(abs(mel.shape[0] / u.mel.shape[0] - 1.0))
    scores = TTSScores(
        float(np.mean(mcd)), float(np.mean(l1)), float(np.mean(length)), len(held_out)
    )
    count = min(intelligibility_count, len(held_out))
    if count == 0:
        return scores
    frontend = LogMel(**TTS_FRONTEND, normalize="none")
    rate = TTS_FRONTEND["sample_rate"]
    recognizer = recognizer or IndependentRecognizer()
    texts = [u.text for u in held_out[:count]]

    def audio(mels: Sequence[Tensor]) -> list[tuple[np.ndarray, int]]:
        return [
            (
                vocode(m, frontend, iterations=griffin_lim_iterations).numpy().astype(np.float32),
                rate,
            )
            for m in mels
        ]

    rates, heard = intelligibility(audio(synthesised[:count]), texts, recognizer)
    floor_cer = None
    if floor:
        heard_floor, _ = intelligibility(
            audio([u.mel for u in held_out[:count]]), texts, recognizer
        )
        floor_cer = heard_floor.cer
    return TTSScores(
        scores.mcd_db,
        scores.mel_l1,
        scores.length_error,
        scores.sentences,
        cer=rates.cer,
        wer=rates.wer,
        floor_cer=floor_cer,
        heard=tuple(heard),
    )
