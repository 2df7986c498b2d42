"""What a search can minimise, and the scalarised latency-penalised alternative.

Every objective is minimised. *Cheap* ones are measured on the untrained model before any
training (so hard constraints on them prune a trial for free); the others need training.

==============  =====================================================================
``wer``         dev word error rate at the highest rung the trial reached
``cer``         dev character error rate, likewise
``latency_ms``  measured CPU time to transcribe ``latency_seconds`` of audio (batch 1)
``rtf``         that time per audio second (real-time factor)
``params``      parameters
``macs``        analytic multiply-accumulates per second of audio
``memory_mb``   weights plus estimated peak activations for ``latency_seconds`` of audio
==============  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OBJECTIVES", "Objective", "scalarised"]


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
        Objective("latency_ms", "CPU latency (ms)", cheap=True),
        Objective("rtf", "real-time factor", cheap=True),
        Objective("params", "parameters", cheap=True),
        Objective("macs", "MACs per audio second", cheap=True),
        Objective("memory_mb", "memory (MB)", cheap=True),
    )
}


def scalarised(value: float, latency_ms: float, target_ms: float, weight: float) -> float:
    """``value + weight * |latency_ms - target_ms| / 1000``: a soft latency target.

    Being faster than the target is penalised as well as being slower, so the search is
    drawn to models that use the latency budget rather than to the smallest ones.
    """
    return value + weight * abs(latency_ms - target_ms) / 1000.0
