"""Where the shared speech data lives (``../shared/data`` next to the repository by default)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV_VAR", "default_data_root"]

DATA_ENV_VAR = "SPEECHNAS_DATA"

# src/speechnas/data/paths.py -> parents[3] is the repository root.
_REPO_ROOT = Path(__file__).resolve().parents[3]


def default_data_root() -> Path:
    """The folder that holds the shared corpora (``speechocean762/``, ``commonvoice/``, ...).

    Resolution order:

    1. the environment variable ``SPEECHNAS_DATA`` when it is set and non-empty (returned as
       given, made absolute, even if it does not exist, so a typo shows up as a missing path);
    2. ``../shared/data`` relative to the current working directory, if it exists;
    3. ``../shared/data`` relative to the repository holding this package, if it exists;
    4. otherwise the working-directory candidate of step 2 (callers check ``exists()``).

    Returns:
        An absolute path; it may not exist.
    """
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    from_cwd = (Path.cwd().parent / "shared" / "data").absolute()
    from_repo = _REPO_ROOT.parent / "shared" / "data"
    for candidate in (from_cwd, from_repo):
        if candidate.is_dir():
            return candidate
    return from_cwd
