from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from speechnas.arch import ArchSpec, DecoderSpec, StreamingSpec
from speechnas.models import build_model
from speechnas.models.ctc import greedy_ctc_collapse
from speechnas.presets import PRESETS
from speechnas.space import SpeechSpace
from speechnas.testing.mac_hooks import count_macs

VOCAB = 12
# Every family, decoder, attention type and streaming mode, at sizes that run fast on a CPU.
SMALL = SpeechSpace(
    widths=(16, 24, 32),
    heads=(1, 2, 4, 8),
    max_layers=4,
    min_layers=1,
    decoder_dims=(16, 32),
    chunks=(2, 4),
    left_contexts=(4, 8),
    lookaheads=(0, 2),
    attention_windows=(4, 8),
    streaming="both",
    subsampling_channels=8,
)
TINY = ArchSpec.uniform(num_layers=2, width=32, heads=2, ffn_expansion=2.0, kernel=5, n_mels=40)


def _batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    wave = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wave[i, :n] = 0.1 * torch.randn(n, generator=g)
    return wave, torch.tensor(lengths)


def _targets(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    targets = torch.randint(1, VOCAB, (len(lengths), max(lengths)), generator=g)
    return targets, torch.tensor(lengths)


def _perturb(model: torch.nn.Module) -> None:
    """Random batch-norm statistics, so eval-mode checks are not trivially satisfied."""
    g = torch.Generator().manual_seed(3)
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(0.1 * torch.randn(buf.shape, generator=g))
        elif name.endswith("running_var"):
            buf.copy_(0.5 + torch.rand(buf.shape, generator=g))


def _check_trains(spec: ArchSpec) -> None:
    torch.manual_seed(0)
    model = build_model(spec, vocab_size=VOCAB, specaugment=False).train()
    wave, lens = _batch([9600, 6400, 8000])
    targets, target_lens = _targets([3, 2, 1])
    loss = model(wave, lens, targets, target_lens)
    assert loss.dim() == 0 and torch.isfinite(loss), spec.summary()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, (spec.summary(), missing[:5])


def _check_padding_invariance(spec: ArchSpec) -> None:
    model = build_model(spec, vocab_size=VOCAB, specaugment=False)
    with torch.no_grad():
        _perturb(model)
    model.eval()
    wave, lens = _batch([12000, 7000, 9000], seed=1)
    with torch.no_grad():
        enc, enc_lens = model.encode(wave, lens)
        alone, alone_lens = model.encode(wave[1:2, :7000], lens[1:2])
        n = int(alone_lens[0])
        assert int(enc_lens[1]) == n
        torch.testing.assert_close(enc[1, :n], alone[0, :n], atol=1e-4, rtol=1e-4)
        assert model.transcribe_ids(wave[1:2, :7000], lens[1:2]) == [
            model.transcribe_ids(wave, lens)[1]
        ]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_trains_and_is_padding_invariant(name: str) -> None:
    _check_trains(PRESETS[name])
    _check_padding_invariance(PRESETS[name])


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_random_samples_build_train_and_are_padding_invariant() -> None:
    # Uniform over the whole space almost always means a Conformer (it has by far the most
    # architectures), so draw uniformly within each family in turn.
    rng = np.random.default_rng(0)
    spaces = [dataclasses.replace(SMALL, encoders=(enc,)) for enc in SMALL.encoders]
    seen = set()
    for i in range(200):
        spec = spaces[i % len(spaces)].sample(rng)
        _check_trains(spec)
        seen.add((spec.encoder, spec.decoder.kind, spec.streaming is not None))
        if len(seen) < 30 or rng.random() < 0.2:
            _check_padding_invariance(spec)
    assert {enc for enc, _, _ in seen} == set(SMALL.encoders)
    assert {dec for _, dec, _ in seen} == set(SMALL.decoders)


@pytest.mark.slow  # over 10 s: run by `make test-slow` (and CI)
def test_default_space_samples_build_and_train() -> None:
    """200 uniform draws from the full default space (streaming and not), at full size."""
    space = SpeechSpace(streaming="both")
    rng = np.random.default_rng(0)
    spaces = [dataclasses.replace(space, encoders=(enc,)) for enc in space.encoders]
    for i in range(200):
        spec = spaces[i % len(spaces)].sample(rng)
        _check_trains(spec)
        if i % 5 == 0:
            _check_padding_invariance(spec)


def _streaming_specs() -> list[ArchSpec]:
    stream = StreamingSpec(chunk=4, left_context=8, lookahead=2)
    base = dict(n_mels=40, subsampling_channels=8, streaming=stream)
    specs = [PRESETS["conformer-transducer-streaming"]]
    for encoder in ("conformer", "transformer", "lstm", "cnn_lstm", "cnn"):
        for attention in (
            ("abs", "rel", "local") if encoder in ("conformer", "transformer") else ("rel",)
        ):
            specs.append(
                ArchSpec.uniform(
                    encoder=encoder,
                    attention=attention,
                    attention_window=3,
                    num_layers=3,
                    width=16,
                    heads=2,
                    kernel=5,
                    ffn_expansion=2.0,
                    norm="batchnorm",
                    **base,  # type: ignore[arg-type]
                )
            )
    # conv1d stem, 6x total with a mid-encoder reduction, width changes, no look-ahead
    specs.append(
        dataclasses.replace(
            specs[1],
            subsampling="conv1d",
            subsampling_factor=6,
            time_reduction_layer=2,
            streaming=StreamingSpec(chunk=3, left_context=5, lookahead=0),
        ).with_layer(1, width=24, heads=4)
    )
    return specs


@pytest.mark.parametrize("spec", _streaming_specs(), ids=lambda s: s.summary())
def test_streaming_equals_whole(spec: ArchSpec) -> None:
    model = build_model(spec, vocab_size=VOCAB, specaugment=False)
    with torch.no_grad():
        _perturb(model)
    model.eval()
    wave, lens = _batch([20000, 20000], seed=2)
    with torch.no_grad():
        feats, feat_lens = model.frontend(wave, lens)
        whole, _ = model.encoder(feats, feat_lens)
        chunked = model.encoder.stream(feats)
        assert chunked.shape == whole.shape
        torch.testing.assert_close(chunked, whole, atol=1e-4, rtol=1e-4)
        # Fed in smaller pieces than a chunk, the stream still agrees.
        stride = model.encoder.input_chunk // spec.streaming.chunk  # type: ignore[union-attr]
        torch.testing.assert_close(
            model.encoder.stream(feats, stride), whole, atol=1e-4, rtol=1e-4
        )


def test_streaming_latency_is_reported() -> None:
    spec = PRESETS["conformer-transducer-streaming"]
    # 8 frames of chunk + 2 of look-ahead at 40 ms per frame
    assert spec.algorithmic_latency_ms == 400.0
    assert PRESETS["conformer-ctc-s"].algorithmic_latency_ms is None


@pytest.mark.parametrize(
    "spec",
    [*(PRESETS[n] for n in sorted(PRESETS))]
    + [SMALL.sample(np.random.default_rng(s)) for s in range(12)],
    ids=lambda s: s.summary(),
)
def test_analytic_macs_match_hooks(spec: ArchSpec) -> None:
    model = build_model(spec, vocab_size=VOCAB, specaugment=False).eval()
    frames = model.feature_frames(2.0)
    feats = torch.randn(1, frames, model.frontend.num_features)
    counted = count_macs(model.encoder, feats, torch.tensor([frames]))
    analytic = model.encoder.macs(frames)
    assert abs(analytic - counted) <= 0.05 * counted, (analytic, counted)
    if spec.decoder.kind == "ctc":  # the whole model per second of audio, head included
        enc, _ = model.encoder(feats, torch.tensor([frames]))
        counted += count_macs(model.head.proj, enc)  # type: ignore[arg-type]
        assert abs(model.macs(2.0) - counted) <= 0.05 * counted


def test_cost_estimates_grow_with_size() -> None:
    small = build_model(TINY, vocab_size=VOCAB)
    big = build_model(dataclasses.replace(TINY, layers=TINY.layers * 3), vocab_size=VOCAB)
    assert big.num_params() > small.num_params()
    assert big.macs(1.0) > small.macs(1.0) > 0
    assert small.macs(2.0) > small.macs(1.0)
    assert small.activation_bytes(10.0) > small.activation_bytes(1.0) > 0


def test_head_kinds() -> None:
    for kind in ("ctc", "rnnt", "aed_lstm", "aed_transformer"):
        spec = dataclasses.replace(TINY, decoder=DecoderSpec(kind=kind, dim=32, heads=4))
        model = build_model(spec, vocab_size=VOCAB).eval()
        wave, lens = _batch([8000, 6000])
        with torch.no_grad():
            greedy = model.transcribe_ids(wave, lens)
            beam = model.transcribe_ids(wave, lens, beam_size=3)
        assert len(greedy) == len(beam) == 2
        assert all(0 not in ids for ids in greedy + beam)


def test_greedy_ctc_collapse() -> None:
    # a a _ a b b _ _ c -> a a b c
    assert greedy_ctc_collapse([1, 1, 0, 1, 2, 2, 0, 0, 3]) == [1, 1, 2, 3]
    assert greedy_ctc_collapse([0, 0, 0]) == []


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_trains_a_step_under_bf16_autocast(name: str) -> None:
    """CPU bf16 autocast: a finite loss and gradients, and float32 weights and buffers."""
    torch.manual_seed(0)
    model = build_model(PRESETS[name], vocab_size=12)
    model.train()
    wave, lens = torch.randn(2, 16000), torch.tensor([16000, 11000])
    targets, target_lens = torch.randint(1, 12, (2, 4)), torch.tensor([4, 3])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(wave, lens, targets, target_lens)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert {t.dtype for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()} == {
        torch.float32
    }


def test_inter_ctc_taps_the_middle_layer_of_the_output_width() -> None:
    taps = {
        name: build_model(arch, vocab_size=VOCAB).inter_ctc_tap for name, arch in PRESETS.items()
    }
    assert taps["conformer-ctc-s"] == 3  # six layers: after the third
    assert taps["conformer-ctc-xs"] == 1
    assert taps["transformer-aed"] == 3  # the attention decoder's CTC projection reads it
    assert taps["conformer-transducer-streaming"] is None  # no CTC projection
    one = ArchSpec.uniform(num_layers=1, width=32, heads=2, kernel=5, n_mels=40)
    assert build_model(one, vocab_size=VOCAB).inter_ctc_tap is None
    # Widths 16, 32, 32, 32: the tap after two layers reads a 32-wide output; after one it
    # would read a 16-wide one, which the projection cannot.
    mixed = TINY.with_layer(0, width=16)
    mixed = dataclasses.replace(mixed, layers=(*mixed.layers, TINY.layers[1], TINY.layers[1]))
    assert build_model(mixed, vocab_size=VOCAB).inter_ctc_tap == 2
    narrow = TINY.with_layer(1, width=16)
    assert build_model(narrow, vocab_size=VOCAB).inter_ctc_tap is None


def test_inter_ctc_loss_mixes_the_tapped_layers_ctc_loss() -> None:
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=VOCAB, specaugment=False).eval()  # no dropout
    wave, wave_lens = _batch([8000, 6000])
    targets, target_lens = _targets([4, 3])
    final = model(wave, wave_lens, targets, target_lens)
    mixed = model(wave, wave_lens, targets, target_lens, inter_ctc=0.25)
    feats, feat_lens = model.features(wave, wave_lens)
    enc, enc_lens, mid, mid_lens = model.encoder.forward_tapped(feats, feat_lens, 1)
    torch.testing.assert_close(model.head.loss(enc, enc_lens, targets, target_lens), final)
    inter = model.head.loss(mid, mid_lens, targets, target_lens)
    torch.testing.assert_close(mixed, 0.75 * final + 0.25 * inter)
    assert not torch.allclose(mixed, final)
    mixed.backward()  # the lower layers get the intermediate loss's gradient
    assert model.encoder.kept_layers[0].ffn1_norm.weight.grad is not None


def test_inter_ctc_rejects_what_it_cannot_do() -> None:
    wave, wave_lens = _batch([8000])
    targets, target_lens = _targets([3])
    model = build_model(TINY, vocab_size=VOCAB)
    with pytest.raises(ValueError, match="inter_ctc"):
        model(wave, wave_lens, targets, target_lens, inter_ctc=1.0)
    transducer = build_model(PRESETS["conformer-transducer-streaming"], vocab_size=VOCAB)
    with pytest.raises(ValueError, match="CTC projection"):
        transducer(wave, wave_lens, targets, target_lens, inter_ctc=0.3)
    with pytest.raises(ValueError, match="tap=2"):
        model.encoder.forward_tapped(*model.features(wave, wave_lens), 2)


def test_zeroed_residual_branches_leave_each_layer_its_skip_path() -> None:
    x, x_lens = torch.randn(2, 9, 32), torch.tensor([9, 6])
    conformer = build_model(PRESETS["conformer-ctc-s"], vocab_size=VOCAB).eval()
    assert conformer.zero_residual_branches() == 6 * 4  # two feed-forwards, attention, conv
    layer = conformer.encoder.kept_layers[0]
    wide = torch.randn(2, 9, layer.in_width) * (
        torch.arange(9)[None, :, None] < x_lens[:, None, None]
    )
    expected = layer.out_norm(layer.proj(wide)) * (torch.arange(9) < x_lens[:, None])[..., None]
    torch.testing.assert_close(layer(wide, x_lens), expected)
    transformer = build_model(PRESETS["transformer-aed"], vocab_size=VOCAB).eval()
    assert transformer.zero_residual_branches() == 6 * 2
    layer = transformer.encoder.kept_layers[1]
    masked = (
        x[..., :1].expand(-1, -1, layer.in_width).clone()
        * (torch.arange(9) < x_lens[:, None])[..., None]
    )
    torch.testing.assert_close(layer(masked, x_lens), masked)
    cnn = build_model(PRESETS["cnn-ctc"], vocab_size=VOCAB).eval()
    assert cnn.zero_residual_branches() == len(cnn.encoder.kept_layers)  # last sub-block norm
    block = cnn.encoder.kept_layers[1]
    masked = torch.randn(2, 9, block.in_width) * (torch.arange(9) < x_lens[:, None])[..., None]
    torch.testing.assert_close(block(masked, x_lens), block.act(masked))  # act(0) = 0
    three_blocks = dataclasses.replace(PRESETS["cnn-ctc"], layers=PRESETS["cnn-ctc"].layers[:3])
    shallow = build_model(three_blocks, vocab_size=VOCAB)
    norms = [layer.residual_outputs()[0].weight.clone() for layer in shallow.encoder.kept_layers]
    assert shallow.zero_residual_branches() == 0  # too shallow to stall: left as initialised
    for layer, norm in zip(shallow.encoder.kept_layers, norms, strict=True):
        torch.testing.assert_close(layer.residual_outputs()[0].weight, norm)
    # no residual branches to close
    assert build_model(PRESETS["blstm-ctc"], vocab_size=VOCAB).zero_residual_branches() == 0
