"""Zero-cost proxies: scores of a model at initialisation, from one batch, without training.

Each proxy builds the architecture as training would start it (seeded, residual branches
closed where the recipe closes them), in eval mode (no dropout, no SpecAugment), and looks at
one fixed batch of training utterances (:class:`ProbeBatch`):

- ``grad_norm``: the norm of the CTC loss's gradient over every parameter (Abdelfattah et
  al., 2021).
- ``snip``: ``sum |theta * dL/dtheta|``, the loss's sensitivity to removing each weight (Lee
  et al., 2019).
- ``synflow``: ``sum |theta * dR/dtheta|`` with every weight made positive and ``R`` the
  sum of the encoder's output for an input of ones shaped as the batch's features (no data,
  no labels; Tanaka et al., 2020; the absolute value as in Abdelfattah et al.'s code, since
  layer norms and smooth activations make the terms signed), in float64, as its logarithm.
- ``naswot``: the log-determinant of the kernel of the sign patterns that each frame leaves
  on every encoder layer's output (Mellor et al., 2021), over at most 512 frames; the kernel
  is scaled to entries in ``[0, 1]`` and regularised by ``1e-3 I``, as silent frames share
  their patterns and would make it singular.

More of each is taken to mean a better architecture, so the estimate's score is the proxy
negated. ``params`` and ``macs`` (per audio second) are the two baselines every proxy must
beat; their score is the count negated (bigger predicted better).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from speechnas.arch import ArchSpec
from speechnas.data.dataset import Batch, SpeechDataset
from speechnas.data.manifest import read_manifest
from speechnas.data.usable import tokenizer_texts
from speechnas.estimators._base import Estimator
from speechnas.models import SpeechModel, build_model
from speechnas.text import build_tokenizer

__all__ = ["PROXIES", "ProbeBatch", "ZeroCostEstimator"]


@dataclass(frozen=True)
class ProbeBatch:
    """A fixed batch of training utterances and the vocabulary a training would build."""

    batch: Batch
    vocab_size: int

    @classmethod
    def from_manifest(
        cls, path: str | Path, *, utterances: int = 16, seed: int = 0, max_seconds: float = 10.0
    ) -> ProbeBatch:
        """``utterances`` utterances of ``path`` no longer than ``max_seconds``, drawn with
        ``seed``; the character vocabulary of all of ``path``'s texts."""
        utts = read_manifest(path)
        tokenizer = build_tokenizer("char", tokenizer_texts(utts))
        short = [i for i, u in enumerate(utts) if u.duration and u.duration <= max_seconds]
        if not short:
            raise ValueError(f"{path}: no utterance of at most {max_seconds:g} s to probe with")
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(short, size=min(utterances, len(short)), replace=False))
        batch = SpeechDataset(utts, tokenizer).batch([int(i) for i in chosen])
        if batch is None:
            raise ValueError(f"{path}: none of the probe utterances could be read")
        return cls(batch=batch, vocab_size=tokenizer.vocab_size)


def _model(spec: ArchSpec, vocab_size: int, seed: int, zero_init: bool) -> SpeechModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(spec, vocab_size=vocab_size, specaugment=False)
    if zero_init:
        model.zero_residual_branches()
    return model.eval()


def _loss_grads(model: SpeechModel, batch: Batch) -> None:
    model.zero_grad(set_to_none=True)
    loss = model(batch.wave, batch.wave_lens, batch.targets, batch.target_lens)
    loss.backward()


def _grad_norm(model: SpeechModel, batch: Batch) -> float:
    _loss_grads(model, batch)
    with torch.no_grad():
        norms = [p.grad.norm() ** 2 for p in model.parameters() if p.grad is not None]
        return float(torch.stack(norms).sum().sqrt())


def _snip(model: SpeechModel, batch: Batch) -> float:
    _loss_grads(model, batch)
    with torch.no_grad():
        return sum(
            float((p * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None
        )


def _synflow(model: SpeechModel, batch: Batch) -> float:
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
        feats, lens = model.features(batch.wave.double(), batch.wave_lens)
    model.zero_grad(set_to_none=True)
    out, _ = model.encoder(torch.ones_like(feats), lens)
    out.sum().backward()
    with torch.no_grad():
        total = sum(
            float((p * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None
        )
    return float(np.log(total)) if total > 0 else float("-inf")


def _naswot(model: SpeechModel, batch: Batch, frames: int = 512, seed: int = 0) -> float:
    codes: list[torch.Tensor] = []

    def keep(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(out, torch.Tensor) and out.dim() == 3:
            codes.append((out > 0).flatten(0, 1).double())

    hooks = [layer.register_forward_hook(keep) for layer in model.encoder.kept_layers]
    try:
        with torch.no_grad():
            enc, enc_lens = model.encode(batch.wave, batch.wave_lens)
    finally:
        for h in hooks:
            h.remove()
    steps = enc.shape[1]
    valid = (torch.arange(steps)[None, :] < enc_lens[:, None]).flatten()
    same = [c for c in codes if c.shape[0] == valid.shape[0]]
    if not same:
        return float("-inf")
    code = torch.cat(same, dim=1)[valid]
    rng = np.random.default_rng(seed)
    if code.shape[0] > frames:
        code = code[np.sort(rng.choice(code.shape[0], size=frames, replace=False))]
    kernel = (code @ code.T + (1 - code) @ (1 - code).T) / code.shape[1]
    kernel += 1e-3 * torch.eye(kernel.shape[0], dtype=kernel.dtype)
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else float("-inf")


#: name -> the proxy (more: predicted better) of a model on a batch.
PROXIES: dict[str, Callable[[SpeechModel, Batch], float]] = {
    "grad_norm": _grad_norm,
    "snip": _snip,
    "synflow": _synflow,
    "naswot": _naswot,
    "params": lambda model, _batch: float(model.num_params()),
    "macs": lambda model, _batch: float(model.macs(1.0)),
}


class ZeroCostEstimator(Estimator):
    """One proxy of :data:`PROXIES` at initialisation (see the module docstring)."""

    def __init__(
        self, proxy: str, probe: ProbeBatch, *, seed: int = 0, zero_init: bool = True
    ) -> None:
        if proxy not in PROXIES:
            raise ValueError(f"unknown proxy {proxy!r}; expected one of {sorted(PROXIES)}")
        self.name = proxy
        self.probe = probe
        self.seed = seed
        self.zero_init = zero_init

    def _score(self, spec: ArchSpec) -> tuple[float, float]:
        model = _model(spec, self.probe.vocab_size, self.seed, self.zero_init)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            value = PROXIES[self.name](model, self.probe.batch)
        return -value, 0.0
