"""A pickle that runs code when it is unpickled, for tests that a loader never unpickles one.

:func:`plant_pickle` writes, with :func:`torch.save`, an object whose ``__reduce__`` makes
the unpickler call :func:`exec` on code that creates a marker file. A loader that unpickles
it (``torch.load(weights_only=False)``) leaves the marker behind; a safe one does not.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["plant_pickle"]


class _RunsCode:
    """Unpickles by calling ``exec(code)``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (self.code,))


def plant_pickle(path: Path) -> Path:
    """Write the code-running pickle to ``path`` (its folder must exist) and return the
    marker file it creates when unpickled (``path`` with ``.ran`` added; it does not exist
    yet)."""
    marker = path.with_name(path.name + ".ran")
    torch.save({"weights": _RunsCode(f"open({str(marker)!r}, 'w').close()")}, path)
    return marker
