"""INT8 simulation: it rounds as the INT8 export does, trains through the rounding, and
leaves the model as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from speechnas.models.int8_sim import fake_int8_input, fake_int8_weight, simulate_int8


def test_weights_and_inputs_land_on_their_8_bit_grids() -> None:
    w = torch.randn(6, 10)
    q = fake_int8_weight(w)
    steps = q / (w.abs().amax(dim=1, keepdim=True) / 127)
    assert torch.allclose(steps, steps.round(), atol=1e-4)
    assert (q - w).abs().max() <= (w.abs().amax() / 127 / 2) + 1e-6
    x = torch.randn(3, 10) * 4 + 1
    levels = torch.unique(fake_int8_input(x))
    assert len(levels) <= 256 and fake_int8_input(torch.zeros(2, 3)).eq(0).all()
    # Straight through: the gradient is that of the identity.
    w.requires_grad_(True)
    fake_int8_weight(w).sum().backward()
    assert w.grad is not None and torch.equal(w.grad, torch.ones_like(w))


def test_the_simulation_matches_the_int8_export(tmp_path: Path) -> None:
    import onnxruntime as ort

    from speechnas.export.quantize import to_int8

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 32)).eval()
    x = torch.randn(20, 64)
    fp32 = tmp_path / "m.onnx"
    torch.onnx.export(model, (x,), str(fp32), input_names=["x"], dynamo=False)
    int8 = to_int8(fp32, tmp_path / "m.int8.onnx")
    got = ort.InferenceSession(str(int8)).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        plain = model(x).numpy()
        with simulate_int8(model) as layers:
            simulated = model(x).numpy()
    assert layers == 2
    # The simulation is much closer to the export than the float model is.
    assert np.abs(simulated - got).max() < 0.25 * np.abs(plain - got).max()
    with torch.no_grad():
        assert np.array_equal(model(x).numpy(), plain)  # left as it was


def test_training_through_the_rounding_lowers_the_loss() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    x = torch.randn(64, 8)
    y = x[:, :1] * 2 - x[:, 1:2]
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with simulate_int8(model):
        first = nn.functional.mse_loss(model(x), y).item()
        for _ in range(20):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        assert loss.item() < first
    assert set(model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
