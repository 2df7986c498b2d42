"""``count_macs`` against hand-computed counts."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from speechnas.models._blocks import MatMul
from speechnas.testing.mac_hooks import count_macs


def test_linear_counts_every_row() -> None:
    # 2 * 5 rows, 3 * 4 products each.
    assert count_macs(nn.Linear(3, 4), torch.randn(2, 5, 3)) == 2 * 5 * 3 * 4


def test_conv1d_with_groups() -> None:
    conv = nn.Conv1d(6, 4, kernel_size=3, groups=2)
    # Output length 10 - 3 + 1 = 8; each of 4 * 8 outputs per item sums 6 / 2 * 3 = 9 products.
    assert count_macs(conv, torch.randn(2, 6, 10)) == 2 * 4 * 8 * 9 == 576


def test_conv2d_with_stride() -> None:
    conv = nn.Conv2d(2, 3, kernel_size=3, stride=2)
    # Output 4 x 4 from 9 x 9; each of 3 * 16 outputs sums 2 * 3 * 3 = 18 products.
    assert count_macs(conv, torch.randn(1, 2, 9, 9)) == 3 * 16 * 18 == 864


def test_bidirectional_lstm_counts_packed_frames_only() -> None:
    lstm = nn.LSTM(5, 4, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(2, 3, 5)
    packed = pack_padded_sequence(x, torch.tensor([3, 2]), batch_first=True)
    # 5 real frames; per frame and direction 4 * 4 * (5 + 4) = 144 in layer 1 and
    # 4 * 4 * (8 + 4) = 192 in layer 2 (its input is both directions of layer 1).
    assert count_macs(lstm, packed) == 5 * 2 * (144 + 192) == 3360
    # A padded tensor costs every frame: 2 * 3.
    assert count_macs(lstm, x) == 6 * 2 * (144 + 192)


def test_matmul_broadcast_batch() -> None:
    a, b = torch.randn(2, 3, 4, 5), torch.randn(5, 6)
    # Batch dims 2 * 3, m = 4, k = 5, n = 6.
    assert count_macs(MatMul(), a, b) == 6 * 4 * 5 * 6 == 720


class _Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.matmul = MatMul()

    def forward(self, x: Tensor) -> Tensor:
        h = self.proj(x)  # (1, 3, 4)
        return torch.relu(self.matmul(h, h.transpose(1, 2)))  # (1, 3, 3), relu not counted


def test_nested_modules_sum_and_hooks_are_removed() -> None:
    module = _Nested()
    assert count_macs(module, torch.randn(1, 3, 4)) == 3 * 16 + 3 * 4 * 3
    assert not module.proj._forward_hooks and not module.matmul._forward_hooks


def test_multihead_attention_is_refused() -> None:
    with pytest.raises(ValueError, match="MultiheadAttention"):
        count_macs(nn.Sequential(nn.MultiheadAttention(8, 2)), torch.randn(3, 1, 8))
