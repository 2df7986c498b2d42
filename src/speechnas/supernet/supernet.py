"""A weight-sharing supernet over a :class:`~speechnas.supernet.space.SupernetSpace`.

Every subnet is built by :func:`~speechnas.models.build_model` from its spec (one place builds
models) and runs on tensors cut from :class:`~speechnas.supernet.weights.SharedWeights`, so
training a subnet trains the shared weights, and a subnet's inherited weights are those cuts.

Training follows the sandwich rule (Yu et al., 2019, "Universally Slimmable Networks"): each
step accumulates the gradients of the largest subnet, the smallest and a few random ones on
the same batch, then takes one optimiser step.

Contract (``tests/supernet/test_supernet.py``):

* :meth:`Supernet.loss` for a spec equals the loss of :meth:`Supernet.extract` of that spec
  (the standalone model with inherited weights) on the same batch, in eval mode.
* Gradients of a subnet's loss reach exactly the parts of the shared tensors it uses.
* A spec outside the space is refused with a ``ValueError`` naming it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from speechnas.arch import ArchSpec
from speechnas.models import Norm, SpeechModel, build_model
from speechnas.supernet.space import SupernetSpace
from speechnas.supernet.weights import SharedWeights, probe_specs

__all__ = ["Supernet", "recalibrate"]

#: Built subnets kept for reuse (building one costs milliseconds; steps reuse a few).
_CACHED_SUBNETS = 16


class Supernet(nn.Module):
    """Weights shared by every subnet of ``space`` (see the module docstring).

    Args:
        space: the elastic space.
        vocab_size: output tokens (the head's size).
        seed: seeds the initial weights.
    """

    def __init__(self, space: SupernetSpace, vocab_size: int, *, seed: int = 0) -> None:
        super().__init__()
        self.space = space
        self.vocab_size = vocab_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            probes = [
                build_model(spec, vocab_size=vocab_size, specaugment=False)
                for spec in probe_specs(space.cover(), min(space.widths))
            ]
        self.weights = SharedWeights(probes, causal=space.base.streaming is not None)
        self._subnets: OrderedDict[str, SpeechModel] = OrderedDict()

    def _check(self, spec: ArchSpec) -> None:
        if not self.space.contains(spec):
            raise ValueError(f"{spec.summary()} is not a subnet of this supernet's space")

    def subnet(self, spec: ArchSpec) -> SpeechModel:
        """The module structure of ``spec`` (its own weights unused; see :meth:`loss`)."""
        self._check(spec)
        key = spec.arch_id
        model = self._subnets.pop(key, None)
        if model is None:
            # Its own initial weights are never used: building must not move the random
            # state (dropout's), or training would depend on what the cache holds.
            with torch.random.fork_rng(devices=[]):
                model = build_model(spec, vocab_size=self.vocab_size, specaugment=False)
            model.requires_grad_(False)
        self._subnets[key] = model
        while len(self._subnets) > _CACHED_SUBNETS:
            self._subnets.popitem(last=False)
        return model.train(self.training)

    def loss(
        self,
        spec: ArchSpec,
        wave: Tensor,
        wave_lens: Tensor,
        targets: Tensor,
        target_lens: Tensor,
    ) -> Tensor:
        """Training loss of subnet ``spec`` on a batch, computed on the shared weights."""
        model = self.subnet(spec)
        tensors = self.weights.tensors_for(model)
        loss: Tensor = functional_call(model, tensors, (wave, wave_lens, targets, target_lens))
        return loss

    def extract(self, spec: ArchSpec) -> SpeechModel:
        """``spec`` as a standalone model with its inherited weights, in eval mode."""
        self._check(spec)
        model = build_model(spec, vocab_size=self.vocab_size, specaugment=False)
        return self.weights.load_into(model).eval()

    def sandwich_step(
        self,
        batch: tuple[Tensor, Tensor, Tensor, Tensor],
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        *,
        random_subnets: int = 2,
        clip: float = 5.0,
    ) -> dict[str, float]:
        """One optimiser step on the largest, the smallest and ``random_subnets`` random
        subnets; returns each one's loss (``largest``, ``smallest``, ``random0``, ...).

        Raises:
            FloatingPointError: a loss is not finite (the step is not taken).
        """
        self.train()
        specs = {"largest": self.space.largest(), "smallest": self.space.smallest()}
        specs.update({f"random{i}": self.space.sample(rng) for i in range(random_subnets)})
        optimizer.zero_grad(set_to_none=True)
        losses = {}
        for name, spec in specs.items():
            loss = self.loss(spec, *batch)
            if not torch.isfinite(loss):
                optimizer.zero_grad(set_to_none=True)
                raise FloatingPointError(f"{name} subnet ({spec.summary()}): loss {loss.item()}")
            (loss / len(specs)).backward()  # type: ignore[no-untyped-call]
            losses[name] = float(loss.detach())
        nn.utils.clip_grad_norm_(self.parameters(), clip)
        optimizer.step()
        return losses


@torch.no_grad()
def recalibrate(model: SpeechModel, batches: Iterable[tuple[Tensor, Tensor]]) -> int:
    """Re-estimate the batch-norm statistics of ``model`` (a subnet on inherited weights).

    Shared running statistics belong to no subnet in particular, so before a subnet with
    batch norm is scored they are recomputed: reset, then the cumulative average of the
    statistics of ``batches`` (``(wave, wave_lens)``) in training mode with dropout off.
    Returns the number of batches used (0, and nothing changes, without batch norm).

    Raises:
        ValueError: the model has batch norm and ``batches`` is empty.
    """
    norms = [m for m in model.modules() if isinstance(m, Norm) and m.kind == "batchnorm"]
    if not norms:
        return 0
    batches = list(batches)
    if not batches:
        raise ValueError("a subnet with batch norm needs calibration batches to be scored")
    momenta = [n.momentum for n in norms]
    for n in norms:
        n.running_mean.zero_()
        n.running_var.fill_(1.0)
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    used = 0
    try:
        for wave, wave_lens in batches:
            for n in norms:
                n.momentum = 1.0 / (used + 1)  # a running mean of the batches' statistics
            model.encode(wave, wave_lens)
            used += 1
    finally:
        for n, momentum in zip(norms, momenta, strict=True):
            n.momentum = momentum
        model.eval()
    return used
