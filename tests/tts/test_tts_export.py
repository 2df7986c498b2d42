"""ONNX export of a TTS acoustic model: the two graphs and the regulator between them
synthesise what the PyTorch model does, at lengths other than the traced one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.export.tts import OnnxSynthesizer, export_tts, synthesise_torch
from speechnas.models.tts import build_tts_model
from speechnas.tts import TTSCorpus
from speechnas.tts.listen import write_listening_page

SPEC = TTSSpec(
    width=32,
    encoder=(TTSBlock("transformer", heads=2, ffn_expansion=2.0), TTSBlock("dsconv", kernel=5)),
    decoder=(TTSBlock("conv", kernel=3, ffn_expansion=2.0), TTSBlock("transformer", heads=4)),
    text_units="char",
    n_mels=20,
)


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_the_export_synthesises_what_the_model_does(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_tts_model(SPEC, vocab_size=12).eval()
    with torch.no_grad():  # durations of a few frames, as a trained model predicts
        model.duration.out.bias.fill_(1.5)
    mean, std = torch.linspace(-5, 0, 20), torch.linspace(1, 2, 20)
    report = export_tts(model, mean, std, tmp_path, check_tokens=[3, 4, 5, 6, 7], repeats=2)
    assert [v.name for v in report.variants] == ["onnx-fp32", "onnx-int8"]
    fp32 = report.variants[0]
    assert fp32.max_abs_diff is not None and fp32.max_abs_diff < 1e-2 and fp32.latency_ms > 0
    assert (tmp_path / "export.json").exists() and (tmp_path / "mel.int8.onnx").exists()
    synth = OnnxSynthesizer(tmp_path)
    for tokens in ([2], [5, 3, 9, 9, 2, 4, 8, 11, 3, 1, 7, 6, 5]):  # not the traced lengths
        want = synthesise_torch(model, mean, std, tokens)
        got = synth.synthesise(tokens)
        assert got.shape == want.shape and got.shape[0] >= len(tokens)
        assert float(np.abs(got - want).max()) < 1e-2
    with pytest.raises(ValueError, match="fp32"):
        export_tts(model, mean, std, tmp_path, check_tokens=[3], precisions=("int8",))
    with pytest.raises(ValueError, match="check_tokens"):
        export_tts(model, mean, std, tmp_path, check_tokens=[])


def test_the_listening_page_has_a_player_and_a_plot_per_sentence_and_model(
    corpus: TTSCorpus, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = build_tts_model(SPEC, vocab_size=corpus.tokenizer.vocab_size).eval()
    mean, std = torch.full((20,), -4.0), torch.ones(20)

    def small(tokens: Sequence[int]) -> np.ndarray:
        return np.repeat(synthesise_torch(model, mean, std, tokens), 4, axis=1)  # 80 bands

    sentences = corpus.utterances[:2]
    page = write_listening_page(
        tmp_path, sentences, {"tiny model": small}, griffin_lim_iterations=2
    )
    text = page.read_text()
    assert text.count("<audio") == 4 and text.count("<img") == 4
    assert "recording (Griffin-Lim)" in text and "tiny model" in text
    for i in range(2):
        for name in ("m0-recording-griffin-lim", "m1-tiny-model"):
            wave, rate = sf.read(tmp_path / f"s{i:02d}-{name}.wav")
            assert rate == 16_000 and len(wave) > 0 and np.isfinite(wave).all()
            assert (tmp_path / f"s{i:02d}-{name}.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="at least one"):
        write_listening_page(tmp_path, [], {"tiny model": small})
