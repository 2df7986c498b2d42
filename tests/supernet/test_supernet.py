"""The supernet contract: a subnet on shared weights is its standalone model with inherited
weights, gradients reach exactly what a subnet uses, and sandwich training learns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from speechnas.arch import BLOCKS, StreamingSpec
from speechnas.supernet import Supernet, recalibrate
from speechnas.supernet.supernet import frame_kl
from speechnas.testing.supernet import tiny_supernet_space

VOCAB = 8


_space = tiny_supernet_space


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    wave = 0.1 * torch.randn(2, 8000, generator=g)
    targets = torch.randint(1, VOCAB, (2, 4), generator=g)
    return wave, torch.tensor([8000, 6000]), targets, torch.tensor([4, 3])


@pytest.mark.parametrize(
    ("streaming", "blocks"),
    [(False, ("full",)), (True, ("full",)), (False, BLOCKS), (True, ("attention", "conv"))],
)
def test_a_subnet_on_shared_weights_is_its_model_with_inherited_weights(
    streaming: bool, blocks: tuple[str, ...]
) -> None:
    space = _space(blocks=blocks)
    if streaming:
        base = dataclasses.replace(space.base, streaming=StreamingSpec(chunk=4, left_context=8))
        space = _space(base=base, blocks=blocks)
    net = Supernet(space, VOCAB).eval()
    rng = np.random.default_rng(0)
    specs = [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(4)]
    batch = _batch()
    for spec in specs:
        with torch.no_grad():
            shared = net.loss(spec, *batch)
            alone = net.extract(spec)(*batch)
        assert torch.allclose(shared, alone, atol=1e-5), spec.summary()


def test_short_kernels_are_the_centre_of_the_long_one() -> None:
    net = Supernet(_space(), VOCAB)
    spec = net.space.spec([(32, 3, 2, 1.0)])
    model = net.extract(spec)
    short = model.state_dict()["encoder.layers.0.conv.depthwise.conv.weight"]
    full = net.weights.shared("encoder.layers.0.conv.depthwise.conv.weight")
    assert short.shape[-1] == 3 and full.shape[-1] == 7
    assert torch.equal(short, full[..., 2:5].detach())


def test_gradients_reach_exactly_what_a_subnet_uses() -> None:
    net = Supernet(_space(), VOCAB)
    spec = net.space.spec([(16, 3, 2, 1.0)])  # one narrow layer: most weights unused
    net.loss(spec, *_batch()).backward()  # type: ignore[no-untyped-call]
    ffn = net.weights.shared("encoder.layers.0.ffn1.net.0.weight")  # (64, 32) shared
    assert ffn.grad is not None
    assert ffn.grad[:16, :16].abs().sum() > 0  # (16 hidden, 16 wide) used
    assert ffn.grad[16:].abs().sum() == 0 and ffn.grad[:, 16:].abs().sum() == 0
    unused = net.weights.shared("encoder.layers.2.ffn1.net.0.weight")
    assert unused.grad is None or unused.grad.abs().sum() == 0  # a skipped layer


def test_blocks_are_per_layer_choices_and_a_conv_block_trains_no_attention() -> None:
    space = _space(blocks=BLOCKS)
    rng = np.random.default_rng(3)
    drawn = [space.sample(rng) for _ in range(60)]
    assert {layer.block for spec in drawn for layer in spec.kept_layers} == set(BLOCKS)
    assert all(space.contains(spec) for spec in drawn)
    assert all(space.contains(space.mutate(spec, rng, rate=0.5)) for spec in drawn)
    assert {layer.block for layer in space.smallest().kept_layers} == {"conv"}
    assert {layer.block for layer in space.largest().kept_layers} == {"full"}
    net = Supernet(space, VOCAB)
    conv = space.spec([(32, 7, 2, 2.0, "conv")])
    net.loss(conv, *_batch()).backward()  # type: ignore[no-untyped-call]
    attention = net.weights.shared("encoder.layers.0.attn.query.weight")
    assert attention.grad is None or attention.grad.abs().sum() == 0
    depthwise = net.weights.shared("encoder.layers.0.conv.depthwise.conv.weight")
    assert depthwise.grad is not None and depthwise.grad.abs().sum() > 0
    assert not _space().contains(conv)  # a space without block choices


def test_specs_outside_the_space_are_refused() -> None:
    net = Supernet(_space(), VOCAB)
    wide = net.space.spec([(32, 7, 2, 1.0)])
    outside = wide.with_layer(0, width=24)
    with pytest.raises(ValueError, match="not a subnet"):
        net.extract(outside)
    with pytest.raises(ValueError, match="heads must divide"):
        _space(widths=(16, 30))


@pytest.mark.parametrize("bf16", [False, True])
def test_sandwich_training_lowers_the_loss_of_the_largest_and_smallest(bf16: bool) -> None:
    torch.manual_seed(0)
    net = Supernet(_space(), VOCAB)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    batch = _batch()
    first = net.sandwich_step(batch, optimizer, rng, random_subnets=1, bf16=bf16)
    assert set(first) == {"largest", "smallest", "random0"}
    assert all(p.dtype == torch.float32 for p in net.parameters())  # weights stay fp32
    if bf16:  # the forward passes did run in bfloat16: the same step in fp32 differs
        torch.manual_seed(0)
        fp32 = Supernet(_space(), VOCAB)
        again = fp32.sandwich_step(
            batch, torch.optim.Adam(fp32.parameters()), np.random.default_rng(0), random_subnets=1
        )
        assert again["largest"] != first["largest"]
    for _ in range(25):
        last = net.sandwich_step(batch, optimizer, rng, random_subnets=1, bf16=bf16)
    assert last["largest"] < 0.7 * first["largest"]
    assert last["smallest"] < 0.7 * first["smallest"]


def test_batch_norm_statistics_are_recalibrated_per_subnet() -> None:
    base = tiny_supernet_space().base
    layers = tuple(dataclasses.replace(layer, norm="batchnorm") for layer in base.layers)
    space = tiny_supernet_space(base=dataclasses.replace(base, layers=layers))
    net = Supernet(space, VOCAB)
    spec = space.smallest()
    wave, lens, _, _ = _batch()
    once = net.extract(spec)
    assert recalibrate(once, [(wave, lens)]) == 1
    twice = net.extract(spec)
    assert recalibrate(twice, [(wave, lens), (wave, lens)]) == 2  # an average of equals
    key = "encoder.layers.0.conv.norm.running_var"
    stats = once.state_dict()[key]
    assert not torch.equal(stats, net.extract(spec).state_dict()[key])  # shared ones differ
    assert torch.allclose(stats, twice.state_dict()[key], atol=1e-6)
    assert not once.training
    with pytest.raises(ValueError, match="calibration batches"):
        recalibrate(net.extract(spec), [])
    with pytest.raises(ValueError, match="not a subnet"):  # layer norm: another space
        net.extract(tiny_supernet_space().smallest())
    plain = Supernet(tiny_supernet_space(), VOCAB)
    assert recalibrate(plain.extract(plain.space.smallest()), [(wave, lens)]) == 0


def test_cuts_keep_glu_halves_per_head_vectors_and_recent_causal_taps() -> None:
    base = tiny_supernet_space().base
    streaming = dataclasses.replace(base, streaming=StreamingSpec(chunk=4, left_context=8))
    net = Supernet(tiny_supernet_space(base=streaming), VOCAB)
    spec = net.space.spec([(16, 3, 4, 1.0)])
    got = net.extract(spec).state_dict()
    prefix = "encoder.layers.0."
    glu = net.weights.shared(prefix + "conv.pointwise_in.weight").detach()  # (64, 32)
    expected = torch.cat([glu[:16, :16], glu[32:48, :16]])  # value half, gate half
    assert torch.equal(got[prefix + "conv.pointwise_in.weight"], expected)
    bias = net.weights.shared(prefix + "attn.pos_bias_u").detach()
    assert torch.equal(got[prefix + "attn.pos_bias_u"], bias.reshape(-1)[:16].view(4, 4))
    kernel = net.weights.shared(prefix + "conv.depthwise.conv.weight").detach()
    assert torch.equal(got[prefix + "conv.depthwise.conv.weight"], kernel[:16, :, 4:])


def test_specs_with_other_slots_are_not_subnets() -> None:
    space = tiny_supernet_space()
    spec = space.spec([(32, 7, 2, 1.0)])
    shorter = dataclasses.replace(spec, layers=spec.layers[:2])  # one skipped slot fewer
    assert space.contains(spec) and not space.contains(shorter)


def test_in_place_distillation_scores_students_against_the_largest_posteriors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = Supernet(_space(), VOCAB).eval()  # no dropout: the two calls compare
    batch = _batch()
    loss, log_probs, frames = net.outputs(net.space.largest(), *batch)
    log_probs = log_probs.detach()
    assert torch.allclose(loss, net.loss(net.space.largest(), *batch))
    assert log_probs.shape[:2] == (2, int(frames.max())) and log_probs.shape[2] == VOCAB
    assert float(frame_kl(log_probs, log_probs, frames)) == pytest.approx(0.0, abs=1e-5)
    # Frames past an utterance's end do not count.
    noisy = log_probs.clone()
    noisy[1, int(frames[1]) :] = torch.log_softmax(
        torch.randn_like(noisy[1, int(frames[1]) :]), -1
    )
    assert float(frame_kl(log_probs, noisy, frames)) == pytest.approx(0.0, abs=1e-5)

    # Each smaller subnet's loss mixes its CTC loss with KL from the largest's posteriors of
    # the same step, held fixed (no gradient flows into the teacher through the KL term).
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def spy(teacher: torch.Tensor, student: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        seen.append((teacher, student))
        return frame_kl(teacher, student, frames)

    torch.manual_seed(0)
    net = Supernet(_space(), VOCAB)
    monkeypatch.setattr("speechnas.supernet.supernet.frame_kl", spy)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = net.sandwich_step(
        batch, optimizer, np.random.default_rng(0), random_subnets=1, distill=0.9
    )
    assert set(losses) == {"largest", "smallest", "random0", "smallest_kd", "random0_kd"}
    assert len(seen) == 2 and seen[0][0] is seen[1][0]  # one teacher for both students
    assert not seen[0][0].requires_grad and all(student.requires_grad for _, student in seen)
    assert losses["smallest_kd"] > 0.0
    without = net.sandwich_step(batch, optimizer, np.random.default_rng(0), random_subnets=1)
    assert set(without) == {"largest", "smallest", "random0"} and len(seen) == 2
    with pytest.raises(ValueError, match="distill"):
        net.sandwich_step(
            batch, torch.optim.Adam(net.parameters()), np.random.default_rng(0), distill=1.5
        )
