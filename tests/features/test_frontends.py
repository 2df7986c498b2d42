"""Contract tests every front-end must pass: shapes, frame counts, padding invariance."""

from __future__ import annotations

import pytest
import torch

from speechnas.features import (
    MFCC,
    SEARCH_N_MELS,
    Frontend,
    LearnableFilterbank,
    LogMel,
    build_frontend,
    num_frames,
)

FRONTEND_NAMES = ("logmel", "mfcc", "learnable")
LENGTHS = (0, 1, 399, 400, 401, 559, 560, 561, 16_000)


def _expected_frames(num_samples: int) -> int:
    return 1 + (num_samples - 400) // 160 if num_samples >= 400 else 1


@pytest.fixture(params=FRONTEND_NAMES)
def frontend(request: pytest.FixtureRequest) -> Frontend:
    return build_frontend(request.param, n_mels=40)


def test_num_frames_formula() -> None:
    lens = torch.tensor(LENGTHS)
    expected = [_expected_frames(n) for n in LENGTHS]
    assert num_frames(lens, 400, 160).tolist() == expected
    assert expected[:8] == [1, 1, 1, 1, 1, 1, 2, 2]


def test_shapes_and_lengths(frontend: Frontend) -> None:
    gen = torch.Generator().manual_seed(0)
    wave = torch.randn(len(LENGTHS), max(LENGTHS), generator=gen)
    feats, lens = frontend(wave, torch.tensor(LENGTHS))
    assert lens.dtype == torch.int64
    assert lens.tolist() == [_expected_frames(n) for n in LENGTHS]
    assert feats.shape == (len(LENGTHS), _expected_frames(max(LENGTHS)), frontend.num_features)
    assert feats.dtype == torch.float32
    assert torch.isfinite(feats).all()
    assert frontend.hop_length == 160


@pytest.mark.parametrize("num_samples", [1, 300, 400, 1_000, 3_210])
def test_single_utterance_frame_count(frontend: Frontend, num_samples: int) -> None:
    wave = torch.randn(1, num_samples, generator=torch.Generator().manual_seed(1))
    feats, lens = frontend(wave, torch.tensor([num_samples]))
    assert feats.shape[1] == lens.item() == _expected_frames(num_samples)


def test_padding_invariance(frontend: Frontend) -> None:
    gen = torch.Generator().manual_seed(2)
    lengths = [16_000, 7_013, 300, 401, 560]
    batch = 100.0 * torch.randn(len(lengths), 17_000, generator=gen)  # loud garbage padding
    singles = []
    for i, n in enumerate(lengths):
        wave = torch.randn(1, n, generator=gen)
        batch[i, :n] = wave[0]
        singles.append(frontend(wave, torch.tensor([n])))
    feats, lens = frontend(batch, torch.tensor(lengths))
    for i, (alone, alone_lens) in enumerate(singles):
        n_frames = int(alone_lens.item())
        assert lens[i].item() == n_frames
        torch.testing.assert_close(feats[i, :n_frames], alone[0], atol=1e-5, rtol=1e-5)
        assert (feats[i, n_frames:] == 0).all()


@pytest.mark.parametrize("name", FRONTEND_NAMES)
@pytest.mark.parametrize("normalize", ["utterance", "none"])
def test_padded_frames_zero(name: str, normalize: str) -> None:
    frontend = build_frontend(name, n_mels=64, normalize=normalize)
    wave = torch.randn(2, 8_000, generator=torch.Generator().manual_seed(3))
    feats, lens = frontend(wave, torch.tensor([8_000, 2_000]))
    assert (feats[1, lens[1] :] == 0).all()
    assert (feats[1, : lens[1]] != 0).any()


def test_utterance_normalisation_statistics() -> None:
    wave = torch.randn(2, 16_000, generator=torch.Generator().manual_seed(4))
    feats, lens = LogMel(80)(wave, torch.tensor([16_000, 9_000]))
    valid = feats[1, : lens[1]]
    torch.testing.assert_close(valid.mean(0), torch.zeros(80), atol=1e-4, rtol=0)
    torch.testing.assert_close(valid.std(0, unbiased=False), torch.ones(80), atol=1e-3, rtol=0)


def test_float64_input() -> None:
    feats, _ = LogMel(40)(torch.randn(1, 1_000, dtype=torch.float64), torch.tensor([1_000]))
    assert feats.dtype == torch.float64


@pytest.mark.parametrize("n_mels", SEARCH_N_MELS)
@pytest.mark.parametrize("name", FRONTEND_NAMES)
def test_registry_builds_every_search_choice(name: str, n_mels: int) -> None:
    frontend = build_frontend(name, n_mels=n_mels)
    expected = {"logmel": LogMel, "mfcc": MFCC, "learnable": LearnableFilterbank}[name]
    assert isinstance(frontend, expected)
    assert frontend.num_features == (13 if name == "mfcc" else n_mels)


def test_registry_passes_kwargs_and_accepts_any_positive_n_mels() -> None:
    assert build_frontend("mfcc", n_mels=40, n_mfcc=40).num_features == 40
    assert build_frontend("logmel", n_mels=23).num_features == 23


def test_registry_errors() -> None:
    with pytest.raises(ValueError, match=r"'wavlm'.*\['learnable', 'logmel', 'mfcc'\]"):
        build_frontend("wavlm")
    with pytest.raises(ValueError, match="n_mels"):
        build_frontend("logmel", n_mels=0)


def test_input_validation() -> None:
    frontend = LogMel(40)
    with pytest.raises(ValueError, match="wave must have shape"):
        frontend(torch.zeros(1000), torch.tensor([1000]))
    with pytest.raises(ValueError, match="wave_lens must have shape"):
        frontend(torch.zeros(2, 1000), torch.tensor([1000]))
    with pytest.raises(ValueError, match="wave_lens must lie in"):
        frontend(torch.zeros(1, 1000), torch.tensor([1001]))
    with pytest.raises(ValueError, match="integer"):
        frontend(torch.zeros(1, 1000), torch.tensor([1000.0]))
    with pytest.raises(ValueError, match="normalize"):
        LogMel(40, normalize="global")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_fft"):
        LogMel(40, n_fft=256)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", FRONTEND_NAMES)
def test_cuda_matches_cpu(name: str) -> None:
    frontend = build_frontend(name, n_mels=40)
    wave = torch.randn(2, 8_000, generator=torch.Generator().manual_seed(5))
    lens = torch.tensor([8_000, 3_000])
    cpu_feats, cpu_lens = frontend(wave, lens)
    gpu_feats, gpu_lens = frontend.to("cuda")(wave.cuda(), lens.cuda())
    assert gpu_feats.device.type == "cuda"
    assert torch.equal(gpu_lens.cpu(), cpu_lens)
    torch.testing.assert_close(gpu_feats.cpu(), cpu_feats, atol=1e-3, rtol=1e-3)
