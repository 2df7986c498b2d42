from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechnas.arch import ArchSpec
from speechnas.data.dataset import SpeechDataset
from speechnas.data.manifest import Utterance, read_manifest, write_manifest
from speechnas.errors import ConfigError, UserError
from speechnas.evaluate.wer import NothingToScore
from speechnas.models.model import SpeechModel
from speechnas.testing.audio_fixtures import make_bad_files, make_corpus
from speechnas.train import (
    TrainConfig,
    TrainingDiverged,
    config_changes,
    load_checkpoint,
    load_model,
    load_train_config,
    train,
)

TINY = ArchSpec.uniform(num_layers=1, width=16, heads=2, ffn_expansion=2.0, kernel=3, n_mels=40)


def _config(corpus: dict[str, Path], out: Path, **kw: object) -> TrainConfig:
    base = TrainConfig(
        train_manifest=str(corpus["train"]),
        dev_manifest=str(corpus["dev"]),
        out_dir=str(out),
        arch=TINY,
        max_epochs=2,
        batch_seconds=6.0,
        warmup_steps=2,
        seed=7,
        threads=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def test_same_seed_same_weights(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    a = train(_config(tiny_corpus, tmp_path / "a"), progress=False)
    b = train(_config(tiny_corpus, tmp_path / "b"), progress=False)
    wa, wb = _weights(a.last_checkpoint), _weights(b.last_checkpoint)
    assert a.steps == b.steps > 0
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    c = train(_config(tiny_corpus, tmp_path / "c", seed=8), progress=False)
    wc = _weights(c.last_checkpoint)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def test_bf16_training_is_reproducible_and_keeps_float32_weights(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    bf16 = {"precision": "bf16", "max_epochs": 1}
    a = train(_config(tiny_corpus, tmp_path / "a", **bf16), progress=False)
    b = train(_config(tiny_corpus, tmp_path / "b", **bf16), progress=False)
    wa, wb = _weights(a.last_checkpoint), _weights(b.last_checkpoint)
    assert a.steps == b.steps > 0 and a.nonfinite_steps == 0
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert {w.dtype for w in wa.values() if w.is_floating_point()} == {torch.float32}
    fp32_run = train(_config(tiny_corpus, tmp_path / "c", max_epochs=1), progress=False)
    fp32 = _weights(fp32_run.last_checkpoint)
    assert any(not torch.equal(wa[k], fp32[k]) for k in wa)  # the products did run in bf16


def test_specaugment_waits_for_its_onset_step(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    one = {"max_epochs": 1, "dev_manifest": None}
    configs = (
        _config(tiny_corpus, tmp_path / "late", specaugment_after_steps=10**6, **one),
        _config(tiny_corpus, tmp_path / "off", specaugment=False, **one),
        _config(tiny_corpus, tmp_path / "on", specaugment_after_steps=0, **one),
    )
    wl, wo, wn = (_weights(train(c, progress=False).last_checkpoint) for c in configs)
    assert all(torch.equal(wl[k], wo[k]) for k in wl)
    assert any(not torch.equal(wl[k], wn[k]) for k in wl)


def test_minute_budget_fits_the_schedule_to_the_measured_step_rate(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    from speechnas.train.loop import _Run

    config = _config(tiny_corpus, tmp_path, max_minutes=1.0, max_epochs=1000, warmup_steps=50)
    run = _Run(config, tmp_path, {})
    assert run.total_steps == 1000 * run.steps_per_epoch
    run.step, run.elapsed = 10, 5.0  # 0.5 s a step: 110 more steps fit in the minute left
    run.fit_schedule_to_minutes()
    assert run.total_steps == 120
    run.step, run.elapsed = 30, 25.0  # then 1 s a step: 35 more
    run.fit_schedule_to_minutes()
    assert run.total_steps == 65
    fixed = _Run(replace(config, max_minutes=None, max_steps=40), tmp_path, {})
    fixed.step, fixed.elapsed = 10, 5.0
    fixed.fit_schedule_to_minutes()
    assert fixed.total_steps == 40
    short = _Run(replace(config, max_steps=100, max_warmup_share=0.1), tmp_path, {})
    assert short.warmup_steps == 10


def test_resume_after_interruption_matches_uninterrupted(
    tiny_corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = train(_config(tiny_corpus, tmp_path / "full", max_epochs=3), progress=False)

    # Interrupt the second run in the middle of its second epoch.
    calls = {"n": 0}
    original = SpeechDataset.batch
    batches_per_epoch = full.steps // 3

    def flaky_batch(self: SpeechDataset, indices: list[int], epoch: int = 0) -> object:
        calls["n"] += 1
        if calls["n"] == batches_per_epoch + 2:
            raise KeyboardInterrupt
        return original(self, indices, epoch)

    monkeypatch.setattr(SpeechDataset, "batch", flaky_batch)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tiny_corpus, tmp_path / "part", max_epochs=3), progress=False)
    monkeypatch.setattr(SpeechDataset, "batch", original)
    assert load_checkpoint(tmp_path / "part" / "last.pt")["epoch"] == 1

    resumed = train(
        _config(tiny_corpus, tmp_path / "part", max_epochs=3),
        resume=tmp_path / "part" / "last.pt",
        progress=False,
    )
    assert resumed.steps == full.steps
    wa, wb = _weights(full.last_checkpoint), _weights(resumed.last_checkpoint)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_checkpoint_loads_weights_only(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    result = train(_config(tiny_corpus, tmp_path / "run", max_epochs=1), progress=False)
    state = torch.load(result.last_checkpoint, weights_only=True)
    assert {"model", "optimizer", "step", "config", "arch", "tokenizer"} <= set(state)
    model, tokenizer, _ = load_model(result.last_checkpoint)
    assert isinstance(model, SpeechModel) and not model.training
    assert tokenizer.decode(tokenizer.encode("yes no")) == "yes no"
    assert (tmp_path / "run" / "config.yaml").exists()
    assert (tmp_path / "run" / "run_info.json").exists()


def test_bad_files_are_skipped_and_reported(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    bad = make_bad_files(tmp_path / "bad")
    utts = read_manifest(tiny_corpus["train"]) + bad
    manifest = write_manifest(utts, tmp_path / "with_bad.jsonl")
    cfg = replace(
        _config(tiny_corpus, tmp_path / "run", max_epochs=1), train_manifest=str(manifest)
    )
    result = train(cfg, progress=False)
    assert result.steps > 0
    assert result.skipped == {
        "bad_truncated": "unreadable",
        "bad_empty": "empty",
        "bad_text": "not audio",
        "bad_missing": "missing",
    }


def _nan_loss(self: SpeechModel, *args: object, **kwargs: object) -> torch.Tensor:
    return torch.tensor(float("nan"), requires_grad=True)


def test_nonfinite_losses_stop_with_clear_error(
    tiny_corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SpeechModel, "forward", _nan_loss)
    cfg = _config(tiny_corpus, tmp_path / "run", max_nonfinite_steps=3)
    with pytest.raises(TrainingDiverged, match="non-finite"):
        train(cfg, progress=False)


def test_config_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train_manifest: x.jsonl\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_train_config(path)
    path.write_text("train_manifest: x.jsonl\narch: {layers: [{width: 64, heads: 5}]}\n")
    with pytest.raises(ConfigError, match="heads=5"):
        load_train_config(path)
    path.write_text("train_manifest: x.jsonl\nlr: fast\n")
    with pytest.raises(ConfigError, match="lr"):
        load_train_config(path)
    path.write_text("train_manifest: x.jsonl\narch: conformer-ctc-xs\nspeed_perturb: [1.0]\n")
    cfg = load_train_config(path)
    assert cfg.arch.output_width == 96 and cfg.speed_perturb == (1.0,)


def test_config_rejects_unknown_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train_manifest: x.jsonl\ntokenizer: words\n")
    with pytest.raises(ConfigError, match="tokenizer"):
        load_train_config(path)


def test_init_checkpoint_fine_tunes_from_weights(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    base = train(_config(tiny_corpus, tmp_path / "base", max_epochs=1), progress=False)
    cfg = _config(
        tiny_corpus, tmp_path / "ft", max_epochs=1, init_checkpoint=str(base.last_checkpoint)
    )
    tuned = train(replace(cfg, lr=1e-12, warmup_steps=0), progress=False)
    wa, wb = _weights(base.last_checkpoint), _weights(tuned.last_checkpoint)
    # With a negligible learning rate the fine-tuned weights stay those it started from.
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=0)
    other = replace(cfg, arch=TINY.with_layer(0, width=32), out_dir=str(tmp_path / "bad"))
    with pytest.raises(UserError, match="architecture differs .* init_by_shape"):
        train(other, progress=False)
    # By shape: the wider model starts from the narrow one's weights where they overlap.
    wide = train(replace(other, init_by_shape=True, lr=1e-12, warmup_steps=0), progress=False)
    ww = _weights(wide.last_checkpoint)
    ffn = "encoder.layers.0.ffn1.net.0.weight"
    assert ww[ffn].shape == (64, 32) and wa[ffn].shape == (32, 16)
    torch.testing.assert_close(ww[ffn][:32, :16], wa[ffn], atol=1e-6, rtol=0)


def test_early_stop_when_dev_wer_stalls(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    # An lr this small cannot move dev WER off its first value: patience 1 stops at epoch 2.
    config = _config(tiny_corpus, tmp_path / "es", max_epochs=6, lr=1e-9, early_stop_patience=1)
    result = train(config, progress=False)
    assert result.stopped_early
    assert result.epochs == 2
    history = (tmp_path / "es" / "history.jsonl").read_text().splitlines()
    assert len(history) == 2


def test_tokenizer_from_another_manifest(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    utts = read_manifest(tiny_corpus["train"])
    subset = write_manifest(utts[:2], tmp_path / "subset.jsonl")
    own = train(
        _config(tiny_corpus, tmp_path / "own", train_manifest=str(subset), max_epochs=1),
        progress=False,
    )
    shared = train(
        _config(
            tiny_corpus,
            tmp_path / "shared",
            train_manifest=str(subset),
            tokenizer_manifest=str(tiny_corpus["train"]),
            max_epochs=1,
        ),
        progress=False,
    )
    full = train(_config(tiny_corpus, tmp_path / "full", max_epochs=1), progress=False)
    vocab = {
        name: load_model(r.last_checkpoint)[1].vocab_size
        for name, r in [("own", own), ("shared", shared), ("full", full)]
    }
    assert vocab["shared"] == vocab["full"] > vocab["own"]


def test_a_budget_that_ends_inside_an_epoch_still_scores_dev(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    result = train(_config(tiny_corpus, tmp_path / "cut", max_steps=1), progress=False)
    assert result.steps == 1 and result.epochs == 0 and result.stopped_by_budget
    (record,) = [
        json.loads(x) for x in (tmp_path / "cut" / "history.jsonl").read_text().splitlines()
    ]
    assert 0 < record["epoch"] < 1 and "dev_wer" in record
    assert result.best_checkpoint.name == "best.pt"


def _unusable(root: Path) -> list[Utterance]:
    """An empty file, a text file named .wav, and a good clip with a punctuation-only text."""
    bad = {u.id: u for u in make_bad_files(root / "bad")}
    (clip,) = make_corpus(root / "clip", n=1, seed=5)
    punctuation = Utterance("punct", clip.audio_path, clip.duration, "?! ...", "s")
    return [bad["bad_empty"], bad["bad_text"], punctuation]


def test_an_unscorable_dev_set_is_an_error_naming_it(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    dev = write_manifest(_unusable(tmp_path / "d"), tmp_path / "dev_bad.jsonl")
    cfg = _config(tiny_corpus, tmp_path / "run", max_epochs=1, dev_manifest=str(dev))
    with pytest.raises(NothingToScore, match=f"dev set {dev}: nothing to score") as e:
        train(cfg, progress=False)
    assert "all 3 utterance(s) were skipped" in str(e.value)
    assert "empty text: 1" in str(e.value)
    assert not (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize("content", ["empty", "punctuation"])
def test_a_dev_set_without_a_transcript_is_refused_before_training(
    tiny_corpus: dict[str, Path], tmp_path: Path, content: str
) -> None:
    (clip,) = make_corpus(tmp_path / "clip", n=1, seed=5)
    utts = [] if content == "empty" else [replace(clip, text="...")]
    dev = write_manifest(utts, tmp_path / "dev.jsonl")
    cfg = _config(tiny_corpus, tmp_path / "run", dev_manifest=str(dev))
    with pytest.raises(NothingToScore, match=f"dev set {dev}: nothing to score"):
        train(cfg, progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_run_without_one_finite_loss_is_no_result(
    tiny_corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SpeechModel, "forward", _nan_loss)
    # Fewer non-finite steps than the run has: only the whole-run check can stop it.
    cfg = _config(tiny_corpus, tmp_path / "run", max_epochs=1, max_nonfinite_steps=1000)
    with pytest.raises(TrainingDiverged, match="no step of the run had a finite loss"):
        train(cfg, progress=False)
    assert not (tmp_path / "run" / "best.pt").exists()
    history = tmp_path / "run" / "history.jsonl"
    assert not history.exists() or "dev_wer" not in history.read_text()


def test_overlong_utterances_are_skipped_with_their_reason(
    tiny_corpus: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    utts = read_manifest(tiny_corpus["train"])
    wave = np.concatenate([sf.read(u.audio_path, dtype="float32")[0] for u in utts[:2]])
    long_wav = tmp_path / "long.wav"
    sf.write(long_wav, wave, 16000, subtype="PCM_16")
    seconds = wave.size / 16000  # 2.6 s, over the 2 s limit below
    known = Utterance("long", str(long_wav), seconds, "yes no", "s")
    unknown = Utterance("long_unmeasured", str(long_wav), 0.0, "yes no", "s")
    manifest = write_manifest([*utts, known, unknown], tmp_path / "with_long.jsonl")
    cfg = _config(
        tiny_corpus,
        tmp_path / "run",
        max_epochs=1,
        train_manifest=str(manifest),
        max_utterance_seconds=2.0,
    )
    with caplog.at_level("WARNING"):
        result = train(cfg, progress=False)
    assert result.steps > 0
    assert result.skipped == {"long": "too long", "long_unmeasured": "too long"}
    assert "2.6 s, over the limit of 2 s" in caplog.text
    assert "too long: 2" in caplog.text  # the count per reason at the end


def test_a_checkpoint_older_than_a_config_key_compares_it_as_the_default(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    cfg = _config(tiny_corpus, tmp_path / "run")
    saved = cfg.to_dict()
    del saved["max_utterance_seconds"]
    assert config_changes(saved, cfg) == []
    assert config_changes(saved, replace(cfg, max_utterance_seconds=5.0)) == [
        "max_utterance_seconds"
    ]


def test_a_run_from_scratch_starts_with_its_residual_branches_closed(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    def branch_weights(**kw: object) -> float:
        run = train(
            _config(tiny_corpus, tmp_path / str(kw), max_steps=1, lr=1e-6, **kw), progress=False
        )
        model = load_model(run.last_checkpoint)[0]
        layer = model.encoder.kept_layers[0]
        return max(float(m.weight.detach().abs().max()) for m in layer.residual_outputs())

    # One Adam step moves a weight by about the learning rate.
    assert branch_weights() < 1e-5
    assert branch_weights(zero_init_residuals=False) > 1e-2


def test_a_warm_start_in_another_language_keeps_the_rows_of_shared_letters(
    tiny_corpus: dict[str, Path], tmp_path: Path
) -> None:
    base = train(_config(tiny_corpus, tmp_path / "base", max_epochs=1), progress=False)
    _, base_tok, _ = load_model(base.last_checkpoint)
    # The same audio with German-looking transcripts: letters the base vocabulary lacks.
    german = [
        replace(u, text=u.text + " äöß", language="de")
        for u in read_manifest(tiny_corpus["train"])
    ]
    manifest = write_manifest(german, tmp_path / "de.jsonl")
    cfg = _config(
        tiny_corpus,
        tmp_path / "de",
        train_manifest=str(manifest),
        max_epochs=1,
        init_checkpoint=str(base.last_checkpoint),
        lr=1e-12,
        warmup_steps=0,
    )
    kept = train(cfg, progress=False)  # the checkpoint's vocabulary: the new letters are unknown
    assert load_model(kept.last_checkpoint)[1] == base_tok
    tuned = train(
        replace(cfg, init_vocabulary="data", out_dir=str(tmp_path / "de2")), progress=False
    )
    _, tok, _ = load_model(tuned.last_checkpoint)
    assert {"ä", "ö", "ß"} <= set(tok.pieces()) and tok.vocab_size == base_tok.vocab_size + 3
    wa, wb = _weights(base.last_checkpoint), _weights(tuned.last_checkpoint)
    old = {p: i for i, p in enumerate(base_tok.pieces())}
    for name in ("head.proj.weight", "head.proj.bias"):
        for i, piece in enumerate(tok.pieces()):
            if piece in old:
                torch.testing.assert_close(wb[name][i], wa[name][old[piece]], atol=1e-6, rtol=0)
    encoder = "encoder.layers.0.ffn1.net.0.weight"
    torch.testing.assert_close(wb[encoder], wa[encoder], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="init_vocabulary='data' is about a warm start"):
        replace(cfg, init_checkpoint=None, init_vocabulary="data")
