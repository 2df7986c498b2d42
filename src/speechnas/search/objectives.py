"""What a search can minimise, and the scalarised latency-penalised alternative.

Every objective is minimised. *Cheap* ones are measured on the untrained model before any
training (so hard constraints on them prune a trial for free); the others need training.
With one language in the dev set the language objectives equal ``wer`` and ``cer``; each
language's own scores are kept as ``wer_<code>`` and ``cer_<code>`` among a trial's metrics
(:func:`language_metrics`).

==============  =====================================================================
``wer``         dev word error rate at the highest rung the trial reached
``cer``         dev character error rate, likewise
``mean_wer``    the mean over the dev set's languages of each one's WER (its own rules)
``mean_cer``    likewise for CER
``worst_wer``   the highest WER of any of the dev set's languages
``worst_cer``   the highest CER of any of them
``wer_int8``    dev WER of the trained trial's INT8 export (ONNX Runtime, this CPU)
``cer_int8``    its dev CER
``int8_latency_ms``  that export's latency for ``latency_seconds`` of audio (batch 1)
``latency_ms``  measured CPU time to transcribe ``latency_seconds`` of audio (batch 1)
``rtf``         that time per audio second (real-time factor)
``params``      parameters
``macs``        analytic multiply-accumulates per second of audio
``memory_mb``   weights plus estimated peak activations for ``latency_seconds`` of audio
``algorithmic_latency_ms``  what the model waits for: chunk plus look-ahead of a streaming
                model, the whole ``latency_seconds`` of a full-context one
``lookahead_ms``  future audio a streaming model reads (a full-context one: the whole)
``chunk_latency_ms``  measured CPU compute per chunk of a streaming model fed chunk by chunk
                (a full-context model: ``latency_ms``, its one chunk); with
                ``hardware.latency: predicted``, the target table's prediction
``energy_j``    joules per ``latency_seconds`` utterance: measured from the CPU's energy
                counter where one is readable, else estimated from MACs and memory
                traffic (:mod:`speechnas.hardware.energy`; the trial's ``energy_measured``
                metric says which)
``mcd_db``      a TTS search's mel-cepstral distortion on its held-out sentences (dB)
``mel_l1``      their mean absolute log-mel error
``length_error``  their mean ``|predicted frames / recorded frames - 1|``
``intelligibility_cer``  the CER of an independent recogniser (PocketSphinx) on Griffin-Lim
                audio of the first ``tts.intelligibility`` held-out sentences
==============  =====================================================================

A TTS search (:class:`~speechnas.search.config.TTSTask`) minimises some of
:data:`TTS_OBJECTIVES`; there ``latency_ms`` is the CPU time of synthesising the longest
held-out sentence's mel from its text (batch 1) and ``rtf`` that time per second of its
recorded audio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "INT8_OBJECTIVES",
    "LANGUAGE_OBJECTIVES",
    "OBJECTIVES",
    "TTS_OBJECTIVES",
    "Objective",
    "dev_languages",
    "language_metrics",
    "scalarised",
]

#: Objectives over a dev set's languages.
LANGUAGE_OBJECTIVES = ("mean_wer", "mean_cer", "worst_wer", "worst_cer")

#: Objectives of the INT8 export of a trial that trained the whole ladder.
INT8_OBJECTIVES = ("wer_int8", "cer_int8", "int8_latency_ms")


@dataclass(frozen=True)
class Objective:
    name: str
    label: str
    cheap: bool


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("wer", "dev WER", cheap=False),
        Objective("cer", "dev CER", cheap=False),
        Objective("mean_wer", "dev WER, mean over languages", cheap=False),
        Objective("mean_cer", "dev CER, mean over languages", cheap=False),
        Objective("worst_wer", "dev WER, worst language", cheap=False),
        Objective("worst_cer", "dev CER, worst language", cheap=False),
        Objective("wer_int8", "dev WER, INT8 export", cheap=False),
        Objective("cer_int8", "dev CER, INT8 export", cheap=False),
        Objective("int8_latency_ms", "INT8 latency (ms)", cheap=False),
        Objective("latency_ms", "CPU latency (ms)", cheap=True),
        Objective("rtf", "real-time factor", cheap=True),
        Objective("params", "parameters", cheap=True),
        Objective("macs", "MACs per audio second", cheap=True),
        Objective("memory_mb", "memory (MB)", cheap=True),
        Objective("algorithmic_latency_ms", "algorithmic latency (ms)", cheap=True),
        Objective("lookahead_ms", "look-ahead (ms)", cheap=True),
        Objective("chunk_latency_ms", "compute per chunk (ms)", cheap=True),
        Objective("energy_j", "energy per utterance (J)", cheap=True),
        Objective("mcd_db", "held-out MCD (dB)", cheap=False),
        Objective("mel_l1", "held-out mel L1", cheap=False),
        Objective("length_error", "held-out length error", cheap=False),
        Objective("intelligibility_cer", "intelligibility CER", cheap=False),
    )
}

#: What a TTS search can minimise (the rest are a recogniser's).
TTS_OBJECTIVES = (
    "mcd_db",
    "mel_l1",
    "length_error",
    "intelligibility_cer",
    "latency_ms",
    "rtf",
    "params",
)


def language_metrics(
    wer: float, cer: float, languages: Mapping[str, Mapping[str, float]] | None
) -> dict[str, float]:
    """A trial's language metrics from its dev scores: ``wer_<code>``/``cer_<code>`` per
    language and :data:`LANGUAGE_OBJECTIVES`; with no ``languages`` (a dev set of one) the
    objectives are ``wer`` and ``cer``."""
    if not languages:
        return {"mean_wer": wer, "mean_cer": cer, "worst_wer": wer, "worst_cer": cer}
    out: dict[str, float] = {}
    for code, scores in sorted(languages.items()):
        out[f"wer_{code}"] = float(scores["wer"])
        out[f"cer_{code}"] = float(scores["cer"])
    wers = [float(s["wer"]) for s in languages.values()]
    cers = [float(s["cer"]) for s in languages.values()]
    out["mean_wer"] = sum(wers) / len(wers)
    out["mean_cer"] = sum(cers) / len(cers)
    out["worst_wer"] = max(wers)
    out["worst_cer"] = max(cers)
    return out


def dev_languages(metrics: Iterable[Mapping[str, float]]) -> list[str]:
    """The language codes scored in any of ``metrics`` (trials' metrics), sorted: those of
    a dev set of several languages (:func:`language_metrics`), none for a dev set of one."""
    return sorted({k[4:] for m in metrics for k in m if k.startswith("cer_")})


def scalarised(value: float, latency_ms: float, target_ms: float, weight: float) -> float:
    """``value + weight * |latency_ms - target_ms| / 1000``: a soft latency target.

    Being faster than the target is penalised as well as being slower, so the search is
    drawn to models that use the latency budget rather than to the smallest ones.
    """
    return value + weight * abs(latency_ms - target_ms) / 1000.0
