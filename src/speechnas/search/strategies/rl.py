"""An RL controller: REINFORCE over the space's decisions with a moving-average baseline.

The policy is one softmax per decision of the encoding (a factorised controller: decisions
are drawn independently given the logits). After every finished trial the logits take a
policy-gradient step, ``logits[d] += lr * A * (onehot(choice_d) - softmax(logits[d]))``, with
advantage ``A = (r - b) / s``: ``r`` the trial's reward (minus its fitness), ``b`` an
exponential moving average of past rewards, ``s`` their running standard deviation (so ``lr``
does not depend on the objective's units).

The policy is rebuilt from the finished trials for every proposal, in trial order; it is
therefore a function of the study alone and resumes exactly. Rewards use fitness among all
finished trials (:func:`~speechnas.search.pareto.scalar_fitness`), so with several objectives
a trial on the current Pareto front is rewarded as such.
"""

from __future__ import annotations

import numpy as np

from speechnas.arch.kinds import Spec
from speechnas.search.strategies._base import History, Strategy, StrategyContext

__all__ = ["ReinforceStrategy"]


def _softmax(x: np.ndarray) -> np.ndarray:
    e: np.ndarray = np.exp(x - x.max())
    out: np.ndarray = e / e.sum()
    return out


class ReinforceStrategy(Strategy):
    """REINFORCE controller; see the module doc.

    Options: ``lr`` (0.3), ``baseline_decay`` (0.9).
    """

    OPTIONS = frozenset({"lr", "baseline_decay"})

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.lr = float(context.option("lr", 0.3))
        self.decay = float(context.option("baseline_decay", 0.9))
        if not self.lr > 0 or not 0.0 <= self.decay < 1.0:
            raise ValueError(
                f"rl: lr={self.lr}, baseline_decay={self.decay}; need lr > 0, 0 <= decay < 1"
            )

    def policy(self, past: History) -> dict[str, np.ndarray]:
        """Logits per decision after learning from ``past`` in order."""
        logits = {d.name: np.zeros(len(d.choices)) for d in self.encoding.decisions}
        rewards = [-f for f in past.fitness]
        baseline = None
        mean, m2 = 0.0, 0.0  # Welford running moments of the rewards
        for t, (indices, r) in enumerate(zip(past.indices, rewards, strict=True)):
            if baseline is not None and t >= 1:
                std = np.sqrt(m2 / t) if t > 1 else 1.0
                advantage = (r - baseline) / (std if std > 1e-12 else 1.0)
                for name, x in logits.items():
                    grad = -_softmax(x)
                    grad[indices[name]] += 1.0
                    x += self.lr * advantage * grad
            baseline = r if baseline is None else self.decay * baseline + (1 - self.decay) * r
            delta = r - mean
            mean += delta / (t + 1)
            m2 += delta * (r - mean)
        return logits

    def propose(self, past: History, trial_number: int, rng: np.random.Generator) -> Spec:
        logits = self.policy(past)
        indices = {name: int(rng.choice(len(x), p=_softmax(x))) for name, x in logits.items()}
        return self.encoding.decode(indices)
