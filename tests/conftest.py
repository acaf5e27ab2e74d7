"""Shared test helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str) -> ModuleType:
    """Import `scripts/<name>.py` afresh as module `name` (scripts are not a package). `scripts/` goes on
    sys.path, as when a script runs, so processes a script spawns can import its functions by name."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.append(str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses (and pickling) look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def script():
    return load_script
