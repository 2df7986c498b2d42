from __future__ import annotations

import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.models import build_model
from speechnas.models.inherit import inherit_weights, regions

WIDE = ArchSpec.uniform(num_layers=2, width=32, heads=4, ffn_expansion=4.0, kernel=7, n_mels=40)
NARROW = ArchSpec.uniform(num_layers=2, width=16, heads=2, ffn_expansion=2.0, kernel=3, n_mels=40)


def _models(source: ArchSpec, target: ArchSpec) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    a = build_model(source, vocab_size=12)
    torch.manual_seed(1)
    b = build_model(target, vocab_size=12)
    return a, b


def test_a_narrow_model_takes_leading_channels_centre_taps_and_glu_halves() -> None:
    wide, narrow = _models(WIDE, NARROW)
    got = inherit_weights(wide.state_dict(), narrow, causal=False)
    assert got.missing == () and got.whole + got.partial == len(narrow.state_dict())
    assert got.share == pytest.approx(1.0)
    w, n = wide.state_dict(), narrow.state_dict()
    ffn = "encoder.layers.0.ffn1.net.0.weight"  # (hidden, width)
    assert torch.equal(n[ffn], w[ffn][:32, :16])
    kernel = "encoder.layers.1.conv.depthwise.conv.weight"  # (width, 1, kernel)
    assert torch.equal(n[kernel], w[kernel][:16, :, 2:5])
    glu = "encoder.layers.0.conv.pointwise_in.weight"  # (2 width, width): value, then gate
    assert torch.equal(n[glu][:16], w[glu][:16, :16])
    assert torch.equal(n[glu][16:], w[glu][32:48, :16])
    bias_u = "encoder.layers.0.attn.pos_bias_u"  # (heads, head width), flat
    assert torch.equal(n[bias_u].reshape(-1), w[bias_u].reshape(-1)[:16])


def test_a_wide_model_gets_the_narrow_ones_weights_in_the_same_places() -> None:
    narrow, wide = _models(NARROW, WIDE)
    before = {k: v.clone() for k, v in wide.state_dict().items()}
    got = inherit_weights(narrow.state_dict(), wide, causal=False)
    assert 0.0 < got.share < 1.0 and got.partial > 0
    w, n = wide.state_dict(), narrow.state_dict()
    ffn = "encoder.layers.0.ffn1.net.0.weight"
    assert torch.equal(w[ffn][:32, :16], n[ffn])
    assert torch.equal(w[ffn][32:], before[ffn][32:])  # the rest keeps its initial values
    kernel = "encoder.layers.1.conv.depthwise.conv.weight"
    assert torch.equal(w[kernel][:16, :, 2:5], n[kernel])
    assert torch.equal(w[kernel][:, :, :2], before[kernel][:, :, :2])


def test_the_same_architecture_inherits_everything() -> None:
    a, b = _models(WIDE, WIDE)
    got = inherit_weights(a.state_dict(), b, causal=False)
    assert got.partial == 0 and got.share == pytest.approx(1.0)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


def test_causal_kernels_align_on_their_most_recent_taps() -> None:
    assert regions("x.depthwise.conv.weight", (8, 1, 7), (8, 1, 3), causal=True) == [
        ((slice(0, 8), slice(0, 1), slice(4, 7)), (slice(0, 8), slice(0, 1), slice(0, 3)))
    ]


def test_other_families_inherit_only_what_they_share() -> None:
    lstm = ArchSpec.uniform(encoder="blstm", num_layers=2, width=16, n_mels=40)
    conformer, blstm = _models(WIDE, lstm)
    got = inherit_weights(conformer.state_dict(), blstm, causal=False)
    recurrent = {name for name in blstm.state_dict() if ".lstm." in name}
    assert recurrent and set(got.missing) == recurrent  # the stem and the head are shared
    b, c = blstm.state_dict(), conformer.state_dict()
    convs = [n for n in b if n.startswith("encoder.stem") and b[n].shape == c[n].shape]
    assert convs and all(torch.equal(b[n], c[n]) for n in convs)


@pytest.mark.parametrize("kind", ["ctc", "rnnt", "aed_transformer"])
def test_vocabulary_rows_follow_their_tokens(kind: str) -> None:
    import dataclasses

    from speechnas.arch import DecoderSpec
    from speechnas.models.inherit import remap_vocabulary

    spec = ArchSpec.uniform(num_layers=1, width=16, heads=2, kernel=3, n_mels=40)
    spec = dataclasses.replace(spec, decoder=DecoderSpec(kind=kind, dim=16))
    old = ["<blank>", "<unk>", " ", "a", "b"]
    new = ["<blank>", "<unk>", " ", "a", "ä", "b"]  # a letter more, "b" moved
    source = build_model(spec, vocab_size=len(old)).state_dict()
    target = build_model(spec, vocab_size=len(new)).state_dict()
    mapped = remap_vocabulary(source, old, new, target)
    rows = [n for n, t in source.items() if t.dim() and t.shape[0] == len(old)]
    assert rows and all(mapped[n].shape[0] == len(new) for n in rows)
    for n in rows:
        assert torch.equal(mapped[n][5], source[n][4])  # "b"
        assert torch.equal(mapped[n][:4], source[n][:4])
        assert torch.equal(mapped[n][4], target[n][4])  # "ä": its initial row
    unchanged = [n for n in source if n not in rows]
    assert all(mapped[n] is source[n] for n in unchanged)


def test_only_vocabulary_tensors_are_remapped_when_a_width_equals_the_vocabulary() -> None:
    import dataclasses
    import string

    from speechnas.arch import DecoderSpec
    from speechnas.models.inherit import remap_vocabulary

    old = ["<blank>", "<unk>", " ", *string.ascii_lowercase[:13]]  # 16 tokens, as wide as dim
    new = [*old[:5], "ä", *old[5:]]
    spec = ArchSpec.uniform(num_layers=1, width=16, heads=2, kernel=3, n_mels=40)
    spec = dataclasses.replace(spec, decoder=DecoderSpec(kind="rnnt", dim=16))
    source = build_model(spec, vocab_size=len(old)).state_dict()
    target = build_model(spec, vocab_size=len(new)).state_dict()
    mapped = remap_vocabulary(source, old, new, target)
    changed = sorted(n for n in source if mapped[n] is not source[n])
    assert changed == ["head.out.bias", "head.out.weight", "head.predictor.embed.weight"]
    # Other head tensors 16 rows long (the predictor's projections) are left alone.
    kept = [n for n in source if n.startswith("head.") and n not in changed]
    assert any(source[n].dim() and source[n].shape[0] == 16 for n in kept)
