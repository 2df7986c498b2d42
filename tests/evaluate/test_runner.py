"""Evaluation on sets with nothing to score, and long audio decoded in bounded windows."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import Tensor

from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance
from speechnas.evaluate.runner import evaluate_model, measure_rtf, transcribe
from speechnas.evaluate.wer import NothingToScore
from speechnas.testing.audio_fixtures import make_bad_files, make_corpus
from speechnas.text import Tokenizer, build_tokenizer


class _SaysYes:
    """A recognizer that hears "yes" in any input and records the longest input it got."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.ids = tokenizer.encode("yes")
        self.longest = 0

    def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
        self.longest = max(self.longest, int(wave.shape[1]))
        return [list(self.ids) for _ in range(len(wave_lens))]


@pytest.fixture
def tokenizer() -> Tokenizer:
    return build_tokenizer("char", ["yes no up"])


def test_a_set_with_nothing_to_score_is_an_error(tmp_path: Path, tokenizer: Tokenizer) -> None:
    (clip,) = make_corpus(tmp_path / "clip", n=1)
    punctuation = Utterance("punct", clip.audio_path, clip.duration, "?!", "s")
    unusable = [*make_bad_files(tmp_path / "bad"), punctuation]
    model = _SaysYes(tokenizer)
    with pytest.raises(NothingToScore) as e:
        evaluate_model(model, tokenizer, unusable, name="noisy", rtf_utterances=0)
    assert str(e.value).startswith("noisy: nothing to score: all 5 utterance(s) were skipped")
    for reason in ("empty: 1", "empty text: 1", "missing: 1", "not audio: 1", "unreadable: 1"):
        assert reason in e.value.why
    with pytest.raises(NothingToScore, match="empty: nothing to score: the set has no"):
        evaluate_model(model, tokenizer, [], name="empty", rtf_utterances=0)
    # One usable utterance is enough for a score.
    result = evaluate_model(model, tokenizer, [*unusable, clip], rtf_utterances=0)
    assert result.utterances == 1 and len(result.skipped) == 5


def test_long_audio_is_decoded_in_windows(tmp_path: Path, tokenizer: Tokenizer) -> None:
    utts = make_corpus(tmp_path / "c", n=2)  # 1.3 s each
    dataset = SpeechDataset(utts, tokenizer)
    model = _SaysYes(tokenizer)
    hyps = transcribe(model, tokenizer, dataset, window_seconds=0.5)
    # 20,800 samples in three equal windows of at most 8,000: each says "yes" once.
    assert hyps == {u.id: "yes yes yes" for u in utts}
    assert model.longest <= 8000
    rtf, timed = measure_rtf(model, dataset, window_seconds=0.5)
    assert timed == 2 and rtf is not None and model.longest <= 8000
    # A window longer than the audio decodes every utterance whole, as before.
    assert transcribe(model, tokenizer, dataset) == {u.id: "yes" for u in utts}
    assert model.longest == max(round(u.duration * 16000) for u in utts)


def test_windows_are_never_too_short(tmp_path: Path, tokenizer: Tokenizer) -> None:
    # Just over one window: two halves, not a full window and a sliver of a few samples.
    (utt,) = make_corpus(tmp_path / "c", n=1)
    seen: list[int] = []

    class _Lengths(_SaysYes):
        def transcribe_ids(self, wave: Tensor, wave_lens: Tensor) -> list[list[int]]:
            seen.extend(int(n) for n in wave_lens)
            return super().transcribe_ids(wave, wave_lens)

    window = 20_790 / 16_000  # the clip is 20,800 samples
    transcribe(
        _Lengths(tokenizer), tokenizer, SpeechDataset([utt], tokenizer), window_seconds=window
    )
    assert seen == [10_400, 10_400]


def test_a_mixed_dev_set_is_scored_per_language(tmp_path: Path, tokenizer: Tokenizer) -> None:
    clips = make_corpus(tmp_path / "clips", n=3)
    utts = [
        Utterance("de1", clips[0].audio_path, clips[0].duration, "yes yes", "s1", "de"),
        Utterance("ja1", clips[1].audio_path, clips[1].duration, "yes no", "s2", "ja"),
        Utterance("ja2", clips[2].audio_path, clips[2].duration, "yes", "s3", "ja"),
    ]
    result = evaluate_model(_SaysYes(tokenizer), tokenizer, utts, rtf_utterances=0)
    # German by words: "yes" against "yes yes", 1 deletion of 2. Japanese by characters:
    # "yes" against "yesno" (1 of 2 utterances) and "yes": 2 deletions of 8 characters.
    assert result.languages["de"] == {"wer": 0.5, "cer": 0.5, "utterances": 1}
    assert result.languages["ja"]["wer"] == pytest.approx(2 / 8)
    assert result.languages["ja"]["utterances"] == 2
    assert result.wer == pytest.approx((1 + 2) / (2 + 8))
