"""speechnas: neural architecture search for speech models that fit a target device."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
