"""Exceptions shared across speechnas.

A :class:`UserError` is a problem with what the user gave us (a path, a config key, a corrupt
file). The CLI turns it into a clear message and exit code 2; library callers can catch it.
"""

from __future__ import annotations

__all__ = ["AudioError", "ConfigError", "ConfigMismatch", "UserError"]


class UserError(Exception):
    """Bad input from the user: the message names the file, field or value at fault."""


class ConfigError(UserError):
    """A configuration file or value is invalid (unknown key, wrong type, out of range)."""


class ConfigMismatch(UserError):
    """A stored run was started with another config. ``changed`` names the keys that differ."""

    def __init__(self, message: str, changed: list[str]) -> None:
        super().__init__(message)
        self.changed = changed

    def __reduce__(self) -> tuple[type[ConfigMismatch], tuple[str, list[str]]]:
        return type(self), (str(self), self.changed)


class AudioError(UserError):
    """An audio file cannot be used. ``path`` names the file and ``reason`` says why.

    Reasons are short and stable so they can be counted: ``missing``, ``empty``,
    ``not audio``, ``unreadable``, ``zero duration``.
    """

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        self.path = path
        self.reason = reason
        self.detail = detail
        msg = f"{path}: {reason}" + (f" ({detail})" if detail else "")
        super().__init__(msg)
