"""A small TTS corpus, aligned by an untrained CTC model: the shapes are real, the
durations are whatever the untrained aligner's best path says."""

from __future__ import annotations

import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.models import build_model
from speechnas.testing.audio_fixtures import make_bad_files, make_corpus
from speechnas.text import CharTokenizer
from speechnas.tts import TTSCorpus, align_corpus, tts_text

ALIGNER = ArchSpec.uniform(encoder="cnn", num_layers=1, width=32, n_mels=40)


@pytest.fixture(scope="session")  # aligned once: every TTS test reads it, none changes it
def corpus(tmp_path_factory: pytest.TempPathFactory) -> TTSCorpus:
    root = tmp_path_factory.mktemp("tts")
    utts = make_corpus(root, n=6)
    utts[1] = type(utts[1])(**{**utts[1].__dict__, "text": "Yes? NO!"})  # normalised
    tokenizer = CharTokenizer.train(tts_text(u.text) for u in utts)
    torch.manual_seed(0)
    aligner = build_model(ALIGNER, vocab_size=tokenizer.vocab_size, specaugment=False)
    bad = make_bad_files(root / "bad")[:1]
    unknown = type(utts[0])(**{**utts[0].__dict__, "id": "zed", "text": "zzz"})
    return align_corpus([*utts, *bad, unknown], aligner, tokenizer)
