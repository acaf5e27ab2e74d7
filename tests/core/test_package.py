"""The package's version and its public names."""

from __future__ import annotations

import tomllib
from pathlib import Path

import modrl


def test_version_matches_pyproject():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert modrl.__version__ == pyproject["project"]["version"]


def test_every_public_name_is_importable():
    assert all(hasattr(modrl, name) for name in modrl.__all__)
    assert {"routing_stats", "LayerStats"} <= set(modrl.__all__)
