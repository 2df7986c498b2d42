"""A small reference table, as its file holds it, for tests of readers of tables."""

from __future__ import annotations

from typing import Any

from speechnas.arch import ArchSpec
from speechnas.bench.table import FORMAT, run_key

__all__ = ["TABLE_SPECS", "planted_table", "table_data"]

#: The table's four architectures, in its order.
TABLE_SPECS = [
    ArchSpec.uniform(num_layers=n, width=w) for n, w in ((1, 32), (2, 32), (2, 64), (3, 64))
]


def _run(
    spec: ArchSpec, seed: int, curve: list[dict[str, Any]], step_loss: float, cpu_seconds: float
) -> dict[str, Any]:
    """One run as a table file holds it (10 kept step losses, all ``step_loss``)."""
    return {
        "arch_id": spec.arch_id,
        "seed": seed,
        "curve": curve,
        "step_losses": [step_loss] * 10,
        "cpu_seconds": cpu_seconds,
        "train_seconds": float(curve[-1]["train_seconds"]),
    }


def _table(
    name: str,
    seeds: list[int],
    epochs: int,
    corpus: dict[str, Any],
    archs: dict[str, Any],
    runs: dict[str, Any],
) -> dict[str, Any]:
    """A table file's contents."""
    return {
        "format": FORMAT,
        "name": name,
        "seeds": seeds,
        "recipe": {"max_epochs": epochs},
        "corpus": corpus,
        "space": {},
        "archs": archs,
        "runs": runs,
    }


def _curve(final: float) -> list[dict[str, Any]]:
    return [
        {
            "epoch": 1,
            "step": 10,
            "train_loss": 9.0,
            "dev_cer": 0.95,
            "dev_wer": 1.0,
            "train_seconds": 1.0,
        },
        {
            "epoch": 2,
            "step": 20,
            "train_loss": 5.0,
            "dev_cer": final,
            "dev_wer": final + 0.2,
            "train_seconds": 2.0,
        },
    ]


def table_data(finals: dict[int, list[float]]) -> dict[str, Any]:
    """Four architectures; ``finals[seed][i]``: the last dev CER of architecture ``i``."""
    runs = {}
    for seed, values in finals.items():
        for spec, value in zip(TABLE_SPECS, values, strict=True):
            runs[run_key(spec.arch_id, seed)] = _run(spec, seed, _curve(value), 1.0, 60.0 + seed)
    archs = {
        s.arch_id: {
            "spec": s.to_dict(),
            "family": s.encoder,
            "depth": len(s.layers),
            "costs": {"params": 1.0},
        }
        for s in TABLE_SPECS
    }
    return _table("t", sorted(finals), 2, {}, archs, runs)


def planted_table(count: int = 12, *, seeds: tuple[int, ...] = (0, 1)) -> dict[str, Any]:
    """A table of ``count`` Conformers and LSTMs of 1-3 layers and widths 16-64, three epochs
    each: a planted final CER that falls with width and depth (LSTMs 0.1 worse), reached
    along ``1 - (1 - cer) * epoch / 3``; seeds shift it by 0.002 each; a run costs its
    parameter count in CPU-seconds over its 30 steps (10 per epoch)."""
    from speechnas.hardware.measure import untrained_model

    specs = []
    for i in range(count):
        width = (16, 32, 48, 64)[i % 4]
        depth = 1 + (i // 4) % 3
        encoder = "lstm" if (i // 12) % 2 else "conformer"
        specs.append(ArchSpec.uniform(num_layers=depth, width=width, encoder=encoder, heads=2))
    runs: dict[str, Any] = {}
    archs: dict[str, Any] = {}
    for spec in specs:
        width, depth = spec.layers[0].width, len(spec.layers)
        final = 0.9 - 0.004 * width - 0.05 * depth + (0.1 if spec.encoder == "lstm" else 0.0)
        params = untrained_model(spec, 30).num_params()
        archs[spec.arch_id] = {
            "spec": spec.to_dict(),
            "family": spec.encoder,
            "depth": depth,
            "costs": {"params": float(params), "latency_ms": float(width * depth)},
        }
        for seed in seeds:
            cer = final + 0.002 * seed
            curve = [
                {
                    "epoch": e,
                    "step": 10 * e,
                    "train_loss": 100.0 * (1 - e / 4),
                    "dev_cer": 1 - (1 - cer) * e / 3,
                    "dev_wer": 1.0,
                    "train_seconds": float(e),
                }
                for e in (1, 2, 3)
            ]
            step_loss = 10.0 - 0.01 * width
            runs[run_key(spec.arch_id, seed)] = _run(spec, seed, curve, step_loss, float(params))
    return _table("planted", list(seeds), 3, {"vocab_size": 30}, archs, runs)
