"""Reading YAML configuration into frozen dataclasses at the CLI edge.

Unknown keys are rejected with the key, the file and the known keys named; values are checked
against the field's type (int, float, str, bool, tuples, optionals), every float must be
finite, and a field declared with :func:`bounded` must lie in its range. The ranges live on
the fields themselves, so a dataclass built in Python is checked (``__post_init__`` calls
:func:`check_bounds`) exactly as one read from a file.

YAML is read with YAML 1.2 booleans: only ``true``/``false`` are booleans, so a string choice
such as ``streaming: on`` stays the string typed; a boolean field still accepts ``yes``,
``no``, ``on`` and ``off``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from speechnas.errors import ConfigError

__all__ = [
    "MAX_SEED",
    "Bounds",
    "FieldError",
    "bounded",
    "bounds_of",
    "check_bounds",
    "dataclass_from_mapping",
    "internal",
    "read_yaml",
    "yaml_value",
]

T = TypeVar("T")

#: Seeds are 32-bit: what every random generator a run seeds accepts.
MAX_SEED = 2**32 - 1

_BOUNDS = "speechnas.bounds"
_INTERNAL = "speechnas.internal"
_BOOL_TAG = "tag:yaml.org,2002:bool"
#: The YAML 1.1 words PyYAML reads as booleans besides true/false; a bool field accepts them.
_BOOL_WORDS = {"yes": True, "on": True, "no": False, "off": False}


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type hints
    """PyYAML's safe loader with YAML 1.2 booleans (see the module docstring)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def yaml_value(text: str) -> Any:
    """``text`` read as YAML (one ``--set`` value), with the loader of :func:`read_yaml`.

    Raises:
        yaml.YAMLError: not valid YAML.
    """
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: builds plain data only


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping is a :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml_value(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class Bounds:
    """The range a number (or each number of a list) must lie in; ``None``: no limit.

    ``ge``/``gt``: at least / more than; ``le``/``lt``: at most / less than. A non-finite
    number is never in range, and a list must not be empty.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def contains(self, value: float) -> bool:
        return (
            _finite(value)
            and (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def describe(self) -> str:
        """The condition in words: ``>= 1``, ``> 0``, ``in (0, 1]``, ..."""
        low = [(op, b) for op, b in ((">=", self.ge), (">", self.gt)) if b is not None]
        high = [(op, b) for op, b in (("<=", self.le), ("<", self.lt)) if b is not None]
        if low and high:
            (lop, lo), (hop, hi) = low[0], high[0]
            left, right = "[" if lop == ">=" else "(", "]" if hop == "<=" else ")"
            return f"in {left}{_number(lo)}, {_number(hi)}{right}"
        return " ".join(f"{op} {_number(b)}" for op, b in low + high)


class FieldError(ValueError):
    """A dataclass field's value is out of its range; names the field so that a config
    reader can name the key (``where.field``)."""

    def __init__(self, owner: str, field: str, value: Any, expected: str) -> None:
        super().__init__(f"{owner}.{field}={value!r} is invalid; expected {expected}")
        self.field = field
        self.value = value
        self.expected = expected


def bounded(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A dataclass field whose number (or each number of its tuple) must lie in a range.

    ``None`` values (optional fields) are not checked. The owning class calls
    :func:`check_bounds` in ``__post_init__``.
    """
    return dataclasses.field(default=default, metadata={_BOUNDS: Bounds(ge, gt, le, lt)})


def bounds_of(cls: type) -> dict[str, Bounds]:
    """The range of every :func:`bounded` field of the dataclass ``cls``, by field name."""
    return {f.name: f.metadata[_BOUNDS] for f in dataclasses.fields(cls) if _BOUNDS in f.metadata}


def internal(default: Any) -> Any:
    """A dataclass field set by the program, never by a config file (not a known key), and
    not part of the config's identity (equality)."""
    return dataclasses.field(default=default, compare=False, metadata={_INTERNAL: True})


def _finite(value: float) -> bool:
    """An int is always finite (even one too large for a float); a float unless NaN or inf."""
    return isinstance(value, int) or math.isfinite(value)


def _numbers(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expected(f: dataclasses.Field[Any], value: Any) -> str | None:
    """What ``f`` expects when ``value`` is out of its range (else ``None``). A field
    without bounds still takes only finite numbers."""
    bounds = f.metadata.get(_BOUNDS)
    if value is None:
        return None
    values = _numbers(value)
    if bounds is None:
        finite = all(_finite(v) for v in values if _is_number(v))
        if finite:
            return None
        return "finite numbers" if isinstance(value, tuple | list) else "a finite number"
    numbers = [v for v in values if _is_number(v)]
    if values and len(numbers) == len(values) and all(map(bounds.contains, numbers)):
        return None
    integer = "float" not in str(f.type)  # the annotation, a string under `annotations`
    if isinstance(value, tuple | list):
        noun = f"a non-empty list of {'integers' if integer else 'finite numbers'}, each"
    else:
        noun = "an integer" if integer else "a finite number"
    return f"{noun} {bounds.describe()}"


def check_bounds(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj``: :func:`bounded` ones against
    their range, all of them for non-finite numbers.

    Raises:
        FieldError: the first field out of its range.
    """
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        expected = _expected(f, value)
        if expected is not None:
            raise FieldError(type(obj).__name__, f.name, value, expected)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_type, value_type = args if args else (Any, Any)
        return {
            _coerce(k, key_type, where): _coerce(v, value_type, f"{where}.{k}")
            for k, v in value.items()
        }
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.lower()]
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dataclass_from_mapping(annotation, value, where)
    return value


def dataclass_from_mapping(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build ``cls`` from ``data``, rejecting unknown keys and values of the wrong type or
    out of range.

    Raises:
        ConfigError: naming ``where.key`` and the offending value (and, for a value out of
            range, the range).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init and not f.metadata.get(_INTERNAL)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    for key, value in kwargs.items():
        expected = _expected(fields[key], value)
        if expected is not None:
            raise ConfigError(f"{where}.{key}={value!r} is invalid; expected {expected}")
    try:
        return cls(**kwargs)
    except FieldError as e:
        raise ConfigError(
            f"{where}.{e.field}={e.value!r} is invalid; expected {e.expected}"
        ) from e
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from e
