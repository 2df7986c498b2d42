"""A tiny search for tests: tone-word audio, a small space, a two-rung ladder (seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from speechnas.data.manifest import write_manifest
from speechnas.testing.audio_fixtures import make_corpus

__all__ = ["tiny_search"]


def tiny_search(root: Path, **changes: Any) -> dict[str, Any]:
    """A search config over tone-word audio that a tiny model learns in seconds."""
    train = write_manifest(make_corpus(root / "train", n=24, seed=0), root / "train.jsonl")
    dev = write_manifest(make_corpus(root / "dev", n=6, seed=1), root / "dev.jsonl")
    config: dict[str, Any] = {
        "name": "tiny",
        "out_root": str(root / "runs"),
        "data": {
            "train_manifest": str(train),
            "dev_manifest": str(dev),
            "test_manifests": {"test": str(dev)},
        },
        "space": {
            "frontends": ["logmel"],
            "n_mels": [40],
            "subsamplings": ["conv2d"],
            "subsampling_factors": [4],
            "time_reduction": False,
            "encoders": ["conformer", "lstm", "cnn"],
            "min_layers": 1,
            "max_layers": 2,
            "widths": [16, 32],
            "kernels": [3, 5],
            "heads": [2],
            "ffn_expansions": [2.0],
            "activations": ["swish"],
            "norms": ["layernorm"],
            "decoders": ["ctc"],
            "attentions": ["rel"],
        },
        "strategy": "evolution",
        "strategy_options": {"population": 4, "sample_size": 2},
        "n_trials": 6,
        "objectives": ["wer", "params"],
        "fidelity": {
            "rungs": [{"fraction": 0.5, "epochs": 2}, {"fraction": 1.0, "epochs": 3}],
            "min_trials": 2,
            "reduction_factor": 2,
        },
        "train": {
            "batch_seconds": 6.0,
            "warmup_steps": 2,
            "threads": 1,
            "speed_perturb": [1.0],
            "lr": 0.005,
        },
        "final": {"top_k": 1, "epochs": 2},
        "latency_seconds": 1.0,
        "latency_repeats": 2,
    }
    config.update(changes)
    return config
