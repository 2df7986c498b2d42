"""``--set KEY=VALUE`` options: values are YAML, dotted keys reach into nested sections.

Values are read as the config files are (:func:`speechnas._config_io.yaml_value`): only
``true``/``false`` are booleans, so ``--set space.streaming=on`` sets the string ``on``.
"""

from __future__ import annotations

from typing import Any

import yaml

from speechnas._config_io import yaml_value
from speechnas.errors import ConfigError

__all__ = ["merge", "parse_overrides"]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b.c=[2, 3]"]`` -> ``{"a": 1, "b.c": [2, 3]}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = yaml_value(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {e}") from e
    return out


def merge(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each dotted key of ``overrides`` set (sections are created as needed)."""
    out = dict(data)
    for dotted, value in overrides.items():
        *path, last = dotted.split(".")
        node = out
        for part in path:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[last] = value
    return out
