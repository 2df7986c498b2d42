"""A small export bundle for tests: a seeded model of a spec, exported and scored."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from speechnas.arch import ArchSpec
from speechnas.export import ExportReport, export_bundle
from speechnas.models import SpeechModel, build_model
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.text.tokenizers import CharTokenizer

__all__ = ["small_bundle"]


def small_bundle(
    spec: ArchSpec, root: Path, precisions: Sequence[str]
) -> tuple[SpeechModel, ExportReport, Path]:
    """``spec`` built with seed 0 on a 3-utterance corpus's characters, exported into
    ``root / "out"`` in ``precisions`` and scored on that corpus (``dev``), with quick
    latency settings (1 s of audio, 2 runs). Returns the model, the report and the folder."""
    utts = make_corpus(root / "audio", n=3, seed=0)
    tokenizer = CharTokenizer.train(u.text for u in utts)
    torch.manual_seed(0)
    model = build_model(spec, vocab_size=tokenizer.vocab_size, specaugment=False).eval()
    out = root / "out"
    report = export_bundle(
        model,
        spec,
        tokenizer,
        out,
        precisions=precisions,
        test_sets={"dev": utts},
        latency_s=1.0,
        repeats=2,
    )
    return model, report, out
