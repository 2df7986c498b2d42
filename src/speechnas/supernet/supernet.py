"""A weight-sharing supernet over a :class:`~speechnas.supernet.space.SupernetSpace`.

Every subnet is built by :func:`~speechnas.models.build_model` from its spec (one place builds
models) and runs on tensors cut from :class:`~speechnas.supernet.weights.SharedWeights`, so
training a subnet trains the shared weights, and a subnet's inherited weights are those cuts.

Training follows the sandwich rule (Yu et al., 2019, "Universally Slimmable Networks"): each
step accumulates the gradients of the largest subnet, the smallest and a few random ones on
the same batch, then takes one optimiser step. With in-place distillation (``distill`` > 0;
Yu et al., 2020, "BigNAS") the subnets other than the largest also learn the largest's frame
posteriors on that batch: their loss is ``(1 - distill) * CTC + distill * KL(largest || subnet)``,
the KL summed over each utterance's frames (the CTC loss's scale) and averaged over the batch.
Every subnet shares the stem, so their frames align.

Contract (``tests/supernet/test_supernet.py``):

* :meth:`Supernet.loss` for a spec equals the loss of :meth:`Supernet.extract` of that spec
  (the standalone model with inherited weights) on the same batch, in eval mode.
* Gradients of a subnet's loss reach exactly the parts of the shared tensors it uses.
* A spec outside the space is refused with a ``ValueError`` naming it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from speechnas.arch import ArchSpec
from speechnas.device import module_device
from speechnas.models import Norm, SpeechModel, build_model
from speechnas.models.ctc import CTCHead
from speechnas.supernet.space import SupernetSpace
from speechnas.supernet.weights import SharedWeights, probe_specs

__all__ = ["Supernet", "frame_kl", "recalibrate"]

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
        """Training loss of subnet ``spec`` on a batch (moved to the shared weights' device),
        computed on the shared weights."""
        return self.outputs(spec, wave, wave_lens, targets, target_lens)[0]

    def outputs(
        self,
        spec: ArchSpec,
        wave: Tensor,
        wave_lens: Tensor,
        targets: Tensor,
        target_lens: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Subnet ``spec``'s loss, as :meth:`loss`, with its frame log-probabilities
        ``(B, T, V)`` and valid frames ``(B,)`` (what distillation compares)."""
        wrapper = _LossAndPosteriors(self.subnet(spec))
        tensors = {f"model.{k}": v for k, v in self.weights.tensors_for(wrapper.model).items()}
        device = self.device
        inputs = tuple(t.to(device) for t in (wave, wave_lens, targets, target_lens))
        out: tuple[Tensor, Tensor, Tensor] = functional_call(wrapper, tensors, inputs)
        return out

    @property
    def device(self) -> torch.device:
        """Where the shared weights are (``.to(device)`` moves them)."""
        return module_device(self.weights)

    def extract(self, spec: ArchSpec) -> SpeechModel:
        """``spec`` as a standalone model with its inherited weights, in eval mode, on the
        shared weights' device."""
        self._check(spec)
        model = build_model(spec, vocab_size=self.vocab_size, specaugment=False)
        return self.weights.load_into(model.to(self.device)).eval()

    def sandwich_step(
        self,
        batch: tuple[Tensor, Tensor, Tensor, Tensor],
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        *,
        random_subnets: int = 2,
        clip: float = 5.0,
        distill: float = 0.0,
        bf16: bool = False,
    ) -> dict[str, float]:
        """One optimiser step on the largest, the smallest and ``random_subnets`` random
        subnets; returns each one's CTC loss (``largest``, ``smallest``, ``random0``, ...)
        and, with ``distill`` > 0, each smaller one's distillation loss (``smallest_kd``, ...;
        see the module docstring). ``bf16``: the forward passes under bfloat16 autocast.

        Raises:
            FloatingPointError: a loss is not finite (the step is not taken).
            ValueError: ``distill`` is outside [0, 1].
        """
        if not 0.0 <= distill <= 1.0:
            raise ValueError(f"distill={distill}; expected a weight in [0, 1]")
        self.train()
        specs = {"largest": self.space.largest(), "smallest": self.space.smallest()}
        specs.update({f"random{i}": self.space.sample(rng) for i in range(random_subnets)})
        optimizer.zero_grad(set_to_none=True)
        losses = {}
        teacher: Tensor | None = None
        device = batch[0].device.type
        for name, spec in specs.items():
            with torch.autocast(device, torch.bfloat16, enabled=bf16):
                if distill > 0.0:
                    loss, log_probs, frames = self.outputs(spec, *batch)
                else:
                    loss = self.loss(spec, *batch)
            total = loss
            if distill > 0.0 and teacher is not None:
                kd = frame_kl(teacher, log_probs, frames)
                total = (1.0 - distill) * loss + distill * kd
                losses[f"{name}_kd"] = float(kd.detach())
            elif distill > 0.0:
                teacher = log_probs.detach()  # the largest comes first
            if not torch.isfinite(total):
                optimizer.zero_grad(set_to_none=True)
                raise FloatingPointError(f"{name} subnet ({spec.summary()}): loss {total.item()}")
            (total / len(specs)).backward()  # type: ignore[no-untyped-call]
            losses[name] = float(loss.detach())
        nn.utils.clip_grad_norm_(self.parameters(), clip)
        optimizer.step()
        return losses


class _LossAndPosteriors(nn.Module):
    """A CTC subnet's loss and frame log-probabilities in one call (for functional_call)."""

    def __init__(self, model: SpeechModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, wave: Tensor, wave_lens: Tensor, targets: Tensor, target_lens: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        enc, frames = self.model.encode(wave, wave_lens)
        head = cast(CTCHead, self.model.head)  # a supernet's head is CTC
        log_probs = head.log_probs(enc)
        loss = head.loss_of_log_probs(log_probs, frames, targets, target_lens)
        return loss, log_probs, frames


def frame_kl(teacher: Tensor, student: Tensor, frames: Tensor) -> Tensor:
    """``KL(teacher || student)`` of log-probabilities ``(B, T, V)``, summed over each
    utterance's first ``frames[b]`` frames and averaged over the batch."""
    per_frame = (teacher.exp() * (teacher - student)).sum(dim=-1)  # (B, T)
    valid = torch.arange(per_frame.shape[1], device=frames.device)[None, :] < frames[:, None]
    return (per_frame * valid).sum() / per_frame.shape[0]


@torch.no_grad()
def recalibrate(model: SpeechModel, batches: Iterable[tuple[Tensor, Tensor]]) -> int:
    """Re-estimate the batch-norm statistics of ``model`` (a subnet on inherited weights).

    Shared running statistics belong to no subnet in particular, so before a subnet with
    batch norm is scored they are recomputed: reset, then the cumulative average of the
    statistics of ``batches`` (``(wave, wave_lens)``, moved to the model's device) in training
    mode with dropout off.
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
    device = module_device(model)
    try:
        for wave, wave_lens in batches:
            for n in norms:
                n.momentum = 1.0 / (used + 1)  # a running mean of the batches' statistics
            model.encode(wave.to(device), wave_lens.to(device))
            used += 1
    finally:
        for n, momentum in zip(norms, momenta, strict=True):
            n.momentum = momentum
        model.eval()
    return used
