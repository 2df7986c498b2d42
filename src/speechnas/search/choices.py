"""The names a search config may use, importable without torch or Optuna (for ``--help``).

The registries behind them (:data:`speechnas.search.strategies.STRATEGIES`, the pruners of
:class:`~speechnas.search.config.FidelityConfig`, the fields of
:class:`~speechnas.search.config.Constraints`) are held equal to these by the tests.
"""

from __future__ import annotations

from speechnas.search.objectives import OBJECTIVES

__all__ = ["CONSTRAINTS", "PRUNERS", "STRATEGY_NAMES", "describe_choices"]

STRATEGY_NAMES = (
    "random",
    "grid",
    "tpe",
    "gp",
    "nsga2",
    "evolution",
    "rl",
    "transfer",
    "supernet",
    "darts",
)

PRUNERS = ("successive_halving", "hyperband", "median", "none", "predicted_front")

#: The keys of ``constraints``: on cheap measurements, then on the trained dev scores.
CONSTRAINTS = (
    "max_latency_ms",
    "max_params",
    "max_memory_mb",
    "max_macs",
    "max_algorithmic_latency_ms",
    "max_lookahead_ms",
    "max_chunk_latency_ms",
    "max_energy_j",
    "max_mean_cer",
    "max_worst_cer",
)


def describe_choices() -> str:
    """What a config may name, in a paragraph (the epilog of ``speechnas search --help``)."""
    cheap = [name for name, o in OBJECTIVES.items() if o.cheap]
    trained = [name for name, o in OBJECTIVES.items() if not o.cheap]
    return (
        f"strategy: {', '.join(STRATEGY_NAMES)}. "
        f"fidelity.pruner: {', '.join(PRUNERS)}. "
        f"objectives (all minimised; the first is the main one): {', '.join(trained)} "
        f"(need training), {', '.join(cheap)} (measured before training). "
        f"constraints: {', '.join(CONSTRAINTS)} (the last two checked after training)."
    )
