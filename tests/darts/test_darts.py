"""DARTS: mixed layers, the expected-latency term, extraction and a short run on audio."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from speechnas.arch import ArchSpec, LayerSpec
from speechnas.darts import DartsConfig, DartsModel, MixedLayer, train_darts
from speechnas.darts.train import darts_step
from speechnas.data.dataset import Batch
from speechnas.data.manifest import write_manifest
from speechnas.errors import UserError
from speechnas.hardware.lut import LatencyTable
from speechnas.models.conformer import ConformerLayer
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.testing.hardware import synthetic_table
from speechnas.testing.planted import plant_pickle
from speechnas.train import TrainSettings

WIDE = LayerSpec(width=32, heads=2, ffn_expansion=2.0, kernel=7)
SHORT = dataclasses.replace(WIDE, kernel=3)
SKIP = dataclasses.replace(WIDE, skip=True)
BASE = dataclasses.replace(
    ArchSpec.uniform(num_layers=2, width=32, heads=2, kernel=7, ffn_expansion=2.0, n_mels=40),
    subsampling_channels=8,
)
CANDIDATES = ((WIDE, SHORT, SKIP), (WIDE, SHORT, SKIP))


def _table(path: Path | None = None) -> LatencyTable:
    """A table of synthetic part timings (MACs and frames), priced like a real one."""
    specs = (BASE, BASE.with_layer(1, kernel=3))
    return synthetic_table(specs, {"target": "synthetic"}, path=path)


def _run_files(root: Path, train: int = 6, val: int = 3) -> tuple[Path, Path, LatencyTable]:
    """Training and validation manifests of tone-word audio, and the table, saved as
    ``root/lut.json``."""
    t = write_manifest(make_corpus(root / "train", n=train, seed=0), root / "t.jsonl")
    v = write_manifest(make_corpus(root / "val", n=val, seed=1), root / "v.jsonl")
    return t, v, _table(root / "lut.json")


def _config(root: Path, train: Path, val: Path, **fields: Any) -> DartsConfig:
    """A DARTS run over :func:`_run_files`' manifests and table."""
    return DartsConfig(
        train_manifest=str(train),
        val_manifest=str(val),
        base=BASE,
        candidates=CANDIDATES,
        table=str(root / "lut.json"),
        **fields,
    )


def _conformer(width: int) -> ConformerLayer:
    return ConformerLayer(
        in_width=32,
        width=width,
        heads=2,
        kernel=3,
        ffn_expansion=2.0,
        activation="swish",
        norm="layernorm",
        attention="rel",
    )


def test_a_one_hot_mix_is_its_candidate_and_identity_passes_through() -> None:
    torch.manual_seed(0)
    op = _conformer(32).eval()
    mixed = MixedLayer([op, None], 32).eval()
    x, lens = torch.randn(2, 10, 32), torch.tensor([10, 7])
    x[1, 7:] = 0
    mixed.weights = torch.tensor([1.0, 0.0])
    assert torch.allclose(mixed(x, lens), op(x, lens), atol=1e-6)
    mixed.weights = torch.tensor([0.0, 1.0])
    assert torch.equal(mixed(x, lens), x)
    with pytest.raises(ValueError, match="expected 32 -> 32"):
        MixedLayer([_conformer(16)], 32)


def test_expected_latency_and_extraction_follow_alpha() -> None:
    model = DartsModel(BASE, CANDIDATES, vocab_size=8, table=_table())
    assert model.latency_ms is not None
    uniform = model.base_ms + sum(sum(ms) / 3 for ms in model.latency_ms)
    assert float(model.expected_latency_ms().detach()) == pytest.approx(uniform)
    with torch.no_grad():
        model.alpha[0].copy_(torch.tensor([0.0, 3.0, 0.0]))  # SHORT
        model.alpha[1].copy_(torch.tensor([3.0, 0.0, 0.0]))  # WIDE
    assert model.extract().layers == (SHORT, WIDE)
    # Within a budget below the most likely choice, the best affordable one is taken.
    most_likely_ms = model.base_ms + model.latency_ms[0][1] + model.latency_ms[1][0]
    tight = model.extract(budget_ms=most_likely_ms - 1e-3)
    assert tight.layers != (SHORT, WIDE)
    chosen = [CANDIDATES[i].index(layer) for i, layer in enumerate(tight.layers)]
    spent = model.base_ms + sum(model.latency_ms[i][k] for i, k in enumerate(chosen))
    assert spent <= most_likely_ms - 1e-3


def test_gradients_reach_weights_and_alpha() -> None:
    model = DartsModel(BASE, CANDIDATES, vocab_size=8)
    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(2, 8000, generator=g)
    loss = model(
        wave, torch.tensor([8000, 6000]), torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1])
    )
    loss.backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in model.alpha)
    assert any(p.grad is not None for p in model.weight_parameters())


def test_a_latency_penalty_moves_alpha_towards_cheap_layers(tmp_path: Path) -> None:
    train, val, table = _run_files(tmp_path, train=8, val=4)
    model = DartsModel(BASE, CANDIDATES, vocab_size=8, table=table)
    assert model.latency_ms is not None
    # Room for one short layer: the penalty must push towards identities and short kernels.
    target = model.base_ms + 1.01 * min(model.latency_ms[0][1], model.latency_ms[1][1])
    config = _config(
        tmp_path,
        train,
        val,
        target_ms=target,
        penalty=10.0,
        settings=TrainSettings(
            batch_seconds=8.0, warmup_steps=2, max_warmup_share=1.0, speed_perturb=(1.0,)
        ),
        alpha_lr=0.05,
        max_steps=8,
        out_dir=str(tmp_path / "darts"),
    )
    result = train_darts(config)
    assert len(result.history) == 8
    first, last = result.history[0], result.history[-1]
    assert last["expected_latency_ms"] < first["expected_latency_ms"]
    assert all(p[2] > 1 / 3 for p in last["probs"])  # the identity gained everywhere
    saved = json.loads(result.path.read_text())
    assert result.spec is not None and ArchSpec.from_dict(saved["spec"]) == result.spec
    assert len(saved["history"]) == 8
    kept = [layer for layer in result.spec.layers if not layer.skip]
    assert kept == [SHORT]  # within the target, and never an empty architecture
    with pytest.raises(ValueError, match="needs a latency table"):
        DartsConfig(
            train_manifest="t",
            val_manifest="v",
            base=BASE,
            candidates=CANDIDATES,
            target_ms=5.0,
            max_steps=1,
        )


def test_extraction_within_a_budget_is_the_best_valid_choice() -> None:
    model = DartsModel(BASE, CANDIDATES, vocab_size=8, table=_table())
    assert model.latency_ms is not None
    lat = model.latency_ms
    g = torch.Generator().manual_seed(3)
    for trial in range(30):
        with torch.no_grad():
            for a in model.alpha:
                a.copy_(3 * torch.randn(3, generator=g))
        scores = [torch.log_softmax(a.detach(), 0).tolist() for a in model.alpha]
        combos = [
            (scores[0][i] + scores[1][j], model.base_ms + lat[0][i] + lat[1][j], (i, j))
            for i in range(3)
            for j in range(3)
            if (i, j) != (2, 2)  # both skipped is not an architecture
        ]
        # Halfway between two achievable latencies: clear of the grid's rounding (the
        # knapsack rounds latencies up to its grid, see speechnas.extract).
        costs = sorted({c[1] for c in combos}) + [float("inf")]
        k = trial % (len(costs) - 1)
        budget = costs[k] + min(1.0, (costs[k + 1] - costs[k]) / 2)
        best = max((c for c in combos if c[1] <= budget), key=lambda c: c[0])
        got = model.extract(budget_ms=budget)
        chosen = tuple(CANDIDATES[i].index(layer) for i, layer in enumerate(got.layers))
        got_score = scores[0][chosen[0]] + scores[1][chosen[1]]
        assert got_score == pytest.approx(best[0]), trial


def _batch(seed: int) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        wave=0.1 * torch.randn(2, 8000, generator=g),
        wave_lens=torch.tensor([8000, 6000]),
        targets=torch.randint(1, 8, (2, 3), generator=g),
        target_lens=torch.tensor([3, 2]),
        ids=["a", "b"],
        texts=["", ""],
        seconds=0.875,
    )


def test_one_step_trains_weights_on_training_data_and_alpha_on_validation_data() -> None:
    torch.manual_seed(0)
    model = DartsModel(BASE, CANDIDATES, vocab_size=8, table=_table()).train()
    reference = copy.deepcopy(model)
    assert model.latency_ms is not None
    target = model.base_ms + min(model.latency_ms[0])
    config = DartsConfig(
        train_manifest="t",
        val_manifest="v",
        base=BASE,
        candidates=CANDIDATES,
        table="lut.json",
        target_ms=target,
        penalty=0.5,
        max_steps=1,
    )
    train, val = _batch(1), _batch(2)

    def optimisers(m: DartsModel) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.AdamW(m.weight_parameters(), lr=1e-2),
            torch.optim.Adam(m.arch_parameters(), lr=0.1),
        )

    torch.manual_seed(5)  # dropout draws the same masks in both runs
    darts_step(model, *optimisers(model), train, val, config)
    torch.manual_seed(5)
    weights, alpha = optimisers(reference)
    loss = reference(train.wave, train.wave_lens, train.targets, train.target_lens)
    weights.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(reference.weight_parameters(), 5.0)
    weights.step()  # alpha is not touched by the training loss
    val_loss = reference(val.wave, val.wave_lens, val.targets, val.target_lens)
    objective = val_loss + 0.5 * (reference.expected_latency_ms() - target).abs()
    alpha.zero_grad()
    objective.backward()
    alpha.step()  # the weights are not touched by the validation objective
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    assert not torch.equal(model.alpha[0], torch.zeros(3))


def test_alpha_waits_for_its_warm_up_steps(tmp_path: Path) -> None:
    train, val, _ = _run_files(tmp_path)
    config = _config(
        tmp_path,
        train,
        val,
        target_ms=1.0,
        penalty=10.0,
        settings=TrainSettings(batch_seconds=8.0, warmup_steps=1, speed_perturb=(1.0,)),
        alpha_lr=0.05,
        alpha_warmup_steps=2,
        max_steps=3,
        out_dir=str(tmp_path / "darts"),
    )
    history = train_darts(config).history

    def flat(probs: list[list[float]]) -> list[float]:
        return [p for position in probs for p in position]

    uniform = [1 / len(p) for p in CANDIDATES for _ in p]
    for row in history[:2]:
        assert row["val_loss"] is None and row["train_loss"] > 0
        assert flat(row["probs"]) == pytest.approx(uniform)
    assert history[2]["val_loss"] is not None
    assert flat(history[2]["probs"]) != pytest.approx(uniform)


def test_an_interrupted_run_continues_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import speechnas.darts.train as darts_train

    train, val, _ = _run_files(tmp_path)

    def config(out: str, **budget: int) -> DartsConfig:
        return _config(
            tmp_path,
            train,
            val,
            target_ms=345.0,
            settings=TrainSettings(batch_seconds=4.0, warmup_steps=1, speed_perturb=(0.9, 1.1)),
            alpha_lr=0.05,
            alpha_warmup_steps=1,
            out_dir=str(tmp_path / out),
            checkpoint_minutes=0.0,  # saved after every step
            **budget,
        )

    whole = train_darts(config("whole", max_steps=5))

    calls = {"n": 0}
    step = darts_train.darts_step

    def dies_at_the_fourth(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return step(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(darts_train, "darts_step", dies_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        train_darts(config("parts", max_steps=5))
    partial = tmp_path / "parts" / "darts.partial.pt"
    assert partial.is_file()
    assert "failed" in json.loads((tmp_path / "parts" / "darts.json").read_text())
    monkeypatch.setattr(darts_train, "darts_step", step)
    resumed = train_darts(config("parts", max_steps=5))
    assert not partial.exists()
    assert [r["step"] for r in resumed.history] == [1, 2, 3, 4, 5]
    assert resumed.history == whole.history  # exactly: the same steps on the same batches
    assert resumed.probs == whole.probs
    assert resumed.spec is not None and resumed.spec == whole.spec
    saved = json.loads((tmp_path / "parts" / "darts.json").read_text())
    assert "failed" not in saved and len(saved["history"]) == 5


def test_a_planted_partial_run_never_runs(tmp_path: Path) -> None:
    """A pickle put in place of ``darts.partial.pt`` is refused with an error naming it, and
    nothing in it runs."""
    train, val, _ = _run_files(tmp_path, train=2, val=1)
    out = tmp_path / "darts"
    out.mkdir()
    marker = plant_pickle(out / "darts.partial.pt")
    with pytest.raises(UserError) as refused:
        train_darts(_config(tmp_path, train, val, max_steps=1, out_dir=str(out)))
    assert not marker.exists(), "the planted pickle ran"
    assert re.search(r"darts\.partial\.pt: not a partial run: .*move it away", str(refused.value))
