"""MFCC: the DCT basis against scipy, and known values on constant log energies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.fft import dct

from speechnas.features import MFCC, LogMel
from speechnas.features.mfcc import dct_matrix


@pytest.mark.parametrize(("n_mels", "n_mfcc"), [(40, 13), (40, 40), (80, 13)])
def test_dct_matrix_matches_scipy_orthonormal_dct2(n_mels: int, n_mfcc: int) -> None:
    x = np.random.default_rng(0).standard_normal((5, n_mels))
    expected = dct(x, type=2, norm="ortho", axis=-1)[:, :n_mfcc]
    got = torch.from_numpy(x).float() @ dct_matrix(n_mels, n_mfcc)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-4)


def test_full_dct_matrix_is_orthogonal() -> None:
    d = dct_matrix(40, 40)
    torch.testing.assert_close(d.T @ d, torch.eye(40), atol=1e-5, rtol=0)


@pytest.mark.parametrize("n_mels", [40, 80])
def test_constant_log_energy_has_only_c0(n_mels: int) -> None:
    # Silence gives log(0 + 1e-6) in every band: a constant log-mel vector c, whose
    # orthonormal DCT is c * sqrt(N) in c0 and zero elsewhere.
    frontend = MFCC(13, n_mels=n_mels, normalize="none")
    feats, lens = frontend(torch.zeros(1, 1_600), torch.tensor([1_600]))
    assert feats.shape == (1, 8, 13)
    c0 = math.log(1e-6) * math.sqrt(n_mels)
    torch.testing.assert_close(feats[0, :, 0], torch.full((8,), c0), atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(feats[0, :, 1:], torch.zeros(8, 12), atol=1e-4, rtol=0)


def test_mfcc_is_dct_of_logmel() -> None:
    wave = torch.randn(2, 4_000, generator=torch.Generator().manual_seed(0))
    lens = torch.tensor([4_000, 2_500])
    logmel, mel_lens = LogMel(40, normalize="none")(wave, lens)
    ceps, ceps_lens = MFCC(40, n_mels=40, normalize="none")(wave, lens)
    assert torch.equal(mel_lens, ceps_lens)
    expected = dct(logmel.numpy(), type=2, norm="ortho", axis=-1)
    np.testing.assert_allclose(ceps.numpy(), expected, atol=1e-3)


def test_n_mfcc_validation() -> None:
    with pytest.raises(ValueError, match="n_mfcc"):
        MFCC(41, n_mels=40)
    with pytest.raises(ValueError, match="n_mfcc"):
        MFCC(0)
