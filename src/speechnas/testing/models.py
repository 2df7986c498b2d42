"""Models for export and streaming tests: built from a spec, in eval mode, with non-trivial
batch-norm statistics (fresh ones are zeros and ones, which would hide a wrong fold)."""

from __future__ import annotations

import torch

from speechnas.arch import ArchSpec
from speechnas.models import SpeechModel, build_model

__all__ = ["eval_model"]


def eval_model(spec: ArchSpec, vocab_size: int, seed: int = 0) -> SpeechModel:
    """``spec`` built with seeded weights, random running statistics, in eval mode.

    Seeds the global torch RNG with ``seed`` (as building any model draws from it).
    """
    torch.manual_seed(seed)
    model = build_model(spec, vocab_size=vocab_size, specaugment=False)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return model.eval()
