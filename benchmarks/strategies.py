"""Search strategies compared on the dummy space: mean regret after a fixed budget.

Runs, from the repository root (about five minutes, most of it the Gaussian process):

    .venv/bin/python benchmarks/strategies.py [--budget 30] [--seeds 10]

Every strategy searches :data:`speechnas.testing.strategies.SMALL_SPACE` (about 1e9
architectures, 25 decisions) for the analytic objective of
:mod:`speechnas.testing.strategies` (optimum 0, so regret = best value found). No training:
this measures the strategies alone, as a researcher comparing them would first want. Writes
the section "Strategies on the dummy space" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import optuna

from speechnas.reports import markdown_table, update_section
from speechnas.testing.strategies import SMALL_SPACE, analytic_objective, run_search

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = {
    # name: options (start-up phases sized for the budget)
    "random": {},
    "tpe": {"n_startup_trials": 10},
    "gp": {"n_startup_trials": 10},
    "nsga2": {"population": 10},
    "evolution": {"population": 10, "sample_size": 3},
    "rl": {},
    "transfer": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for name, options in STRATEGIES.items():
        best, start = [], time.perf_counter()
        for seed in range(args.seeds):
            specs = run_search(
                name,
                SMALL_SPACE,
                lambda s: (analytic_objective(s),),
                n_trials=args.budget,
                seed=seed,
                options=options,
            )
            best.append(min(analytic_objective(s) for s in specs))
        seconds = time.perf_counter() - start
        rows.append(
            [
                name,
                f"{statistics.mean(best):.3f}",
                f"{statistics.stdev(best):.3f}",
                f"{min(best):.3f}",
                f"{1000 * seconds / (args.seeds * args.budget):.1f} ms",
            ]
        )
        print(rows[-1])
    text = "\n".join(
        [
            f"Regret (best objective found; the optimum is 0) after {args.budget} trials, over "
            f"{args.seeds} seeds, on the dummy space (`speechnas.testing.strategies."
            f"SMALL_SPACE`, {SMALL_SPACE.count():,} architectures) with its analytic "
            "objective; lower is better. Proposal time is the strategy's own cost per trial. "
            "The strategy tests assert that TPE, GP, evolution and RL each beat random search "
            "here.",
            "",
            markdown_table(["strategy", "mean regret", "std", "best seed", "proposal time"], rows),
            "",
            "Reproduce: `.venv/bin/python benchmarks/strategies.py`",
        ]
    )
    update_section(REPO / "BENCHMARKS.md", "strategies", "Strategies on the dummy space", text)
    print(text)


if __name__ == "__main__":
    main()
