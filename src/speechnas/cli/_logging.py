"""Third-party log noise at the CLI edge."""

from __future__ import annotations

import argparse

__all__ = ["quiet_optuna"]


def quiet_optuna(args: argparse.Namespace) -> None:
    """Optuna announces every study it opens; keep that for ``--verbose`` only.

    Optuna sets its logger's level when it is imported, so this imports it first.
    """
    import optuna

    if not getattr(args, "verbose", False):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
