"""The package root exports the public API, loading each name on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import speechnas


@pytest.mark.parametrize("name", sorted(set(speechnas.__all__) - {"__version__"}))
def test_every_public_name_is_the_defining_modules_own(name: str) -> None:
    module = importlib.import_module(speechnas._API[name])
    assert getattr(speechnas, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="run_serch"):
        speechnas.run_serch  # noqa: B018


def test_importing_the_package_loads_no_torch() -> None:
    code = "import sys, speechnas; print('torch' in sys.modules, speechnas.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", speechnas.__version__]
