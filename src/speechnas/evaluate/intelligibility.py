"""Intelligibility of synthesised speech: the error rate of a recogniser the project did not
train.

A TTS model's audio is scored by how well an independent, offline recogniser understands
it: PocketSphinx 5 with the US English acoustic and language models it ships with (PyPI
``pocketsphinx``; nothing is downloaded at run time). Our own recognisers are not used, so
the score does not depend on the models being searched. On LJSpeech's recordings it makes
about 5% CER (``tests/tts/test_intelligibility.py``): that is the floor a synthesiser can
reach by this measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from speechnas.data.audio import SAMPLE_RATE, resample
from speechnas.errors import UserError
from speechnas.evaluate.wer import ErrorRates, error_rates

__all__ = ["IndependentRecognizer", "intelligibility"]


class IndependentRecognizer:
    """PocketSphinx with its bundled US English models (module docstring).

    Raises:
        UserError: ``pocketsphinx`` is not installed.
    """

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise UserError("intelligibility needs PocketSphinx: pip install pocketsphinx") from e
        self._decoder: Any = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def transcribe(self, wave: NDArray[np.float32], sample_rate: int) -> str:
        """The words heard in ``wave`` (mono float samples in [-1, 1] at ``sample_rate``)."""
        audio = resample(np.asarray(wave, dtype=np.float32), sample_rate, SAMPLE_RATE)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        d = self._decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        return str(hyp.hypstr) if hyp is not None else ""


def intelligibility(
    waves: Sequence[tuple[NDArray[np.float32], int]],
    texts: Sequence[str],
    recognizer: IndependentRecognizer | None = None,
) -> tuple[ErrorRates, list[str]]:
    """CER and WER of the independent recogniser on ``waves`` (``(samples, rate)`` pairs)
    against ``texts`` (English rules), and what it heard.

    Raises:
        ValueError: the two sequences differ in length.
        NothingToScore: no text has a word after normalisation.
    """
    if len(waves) != len(texts):
        raise ValueError(f"{len(waves)} waves but {len(texts)} texts")
    recognizer = recognizer or IndependentRecognizer()
    heard = [recognizer.transcribe(wave, rate) for wave, rate in waves]
    return error_rates(list(texts), heard, "en"), heard
