"""Exceptions shared across speechnas.

A :class:`UserError` is a problem with what the user gave us (a path, a config key, a corrupt
file). The CLI turns it into a clear message and exit code 2; library callers can catch it.
"""

from __future__ import annotations

import errno

__all__ = ["AudioError", "ConfigError", "ConfigMismatch", "UserError", "is_environment_error"]

#: Failures of the file system a user fixes: permissions, a read-only or full disk.
_ENVIRONMENT_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}
)


def is_environment_error(e: BaseException) -> bool:
    """Whether ``e`` is a failure of the machine the user fixes (no write permission, a
    read-only or full disk), as opposed to a bug: the CLI reports it in one line, exit 2, and
    a search stops on it rather than failing one trial after another."""
    return isinstance(e, OSError) and e.errno in _ENVIRONMENT_ERRNOS


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
