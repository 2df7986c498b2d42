"""Reference tables: architectures trained with several seeds, to rank cheap estimates against.

:class:`ReferenceTable` reads a table (the shipped ones by name, :func:`shipped_tables`);
:mod:`speechnas.bench.build` draws and trains the architectures of a new one;
:mod:`speechnas.bench.rank` measures how alike two scorings order them.
"""

from __future__ import annotations

from speechnas.bench.rank import kendall_tau, spearman_rho
from speechnas.bench.table import (
    DEFAULT_TABLE,
    Epoch,
    ReferenceEntry,
    ReferenceRun,
    ReferenceTable,
    shipped_tables,
)

__all__ = [
    "DEFAULT_TABLE",
    "Epoch",
    "ReferenceEntry",
    "ReferenceRun",
    "ReferenceTable",
    "kendall_tau",
    "shipped_tables",
    "spearman_rho",
]
