"""Opening a search's database: its study with the strategy's sampler and the pruner."""

from __future__ import annotations

from speechnas.errors import UserError
from speechnas.presets import preset
from speechnas.search.config import SearchConfig
from speechnas.search.fidelity import make_pruner
from speechnas.search.store import SearchStore
from speechnas.search.strategies import StrategyContext, make_sampler
from speechnas.search.task import encoding_for

__all__ = ["open_store"]


def open_store(config: SearchConfig, *, for_search: bool = True) -> SearchStore:
    """The run's database; with ``for_search``, with the strategy's sampler and the pruner."""
    sampler = pruner = None
    if for_search:
        context = StrategyContext(
            encoding=encoding_for(config),
            seed=config.seed,
            directions=("minimize",) * len(config.objectives),
            warm_start=tuple(preset(name) for name in config.warm_start),
            options=config.strategy_options,
        )
        try:
            sampler = make_sampler(config.strategy, context)
        except ValueError as e:
            raise UserError(f"strategy: {e}") from e
        pruner = make_pruner(config.fidelity)
    return SearchStore(
        config.storage_url,
        config.name,
        config.objectives,
        config.to_dict(),
        sampler=sampler,
        pruner=pruner,
        create=for_search,
    )
