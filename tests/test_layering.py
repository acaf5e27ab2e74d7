"""Imports point downward only: scripts → agents → (modrl, envs), and inside agents/ each
sub-package builds only on the ones its row allows (DESIGN.md's table)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FORBIDDEN_FOR_MODRL = ("gymnasium", "stable_baselines3", "minigrid", "envs", "agents", "scripts", "tensorboard",
                       "matplotlib")
AGENT_PACKAGES = ("common", "rl", "sb3", "supervised", "routing", "evolution")
# sub-package → the agents sub-packages it may import (besides itself)
ALLOWED = {
    "common": set(),
    "supervised": {"common"},
    "rl": {"common"},
    "sb3": {"common", "rl"},
    "routing": {"common", "rl", "supervised"},
    "evolution": {"common", "rl", "supervised"},
}


def imported_modules(path: Path) -> set[str]:
    """Every module name `path` imports (absolute imports; the project uses no relative ones)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_modrl_imports_only_torch_and_numpy():
    code = (
        "import sys, modrl\n"
        f"bad = [m for m in {FORBIDDEN_FOR_MODRL!r} if m in sys.modules]\n"
        "assert not bad, f'modrl imported {bad}'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("folder,forbidden", [("modrl", ("envs", "agents", "scripts")),
                                              ("envs", ("torch", "modrl", "agents", "scripts")),
                                              ("agents", ("scripts",))])
def test_layers_import_nothing_above_them(folder, forbidden):
    for path in python_files(folder):
        bad = {m for m in imported_modules(path) if m.split(".")[0] in forbidden}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_envs_never_load_torch():
    code = "import sys, envs\nassert 'torch' not in sys.modules, 'importing envs loaded torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_agents_subpackages_build_only_on_those_below_them():
    for path in python_files("agents"):
        parts = path.relative_to(ROOT / "agents").parts
        if len(parts) == 1:  # agents/__init__.py
            continue
        package = parts[0]
        assert package in ALLOWED, f"agents/{package} has no row in the layering table"
        used = {m.split(".")[1] for m in imported_modules(path) if m.startswith("agents.") and m.count(".") >= 1}
        bad = used - ALLOWED[package] - {package}
        assert not bad, f"{path.relative_to(ROOT)} (agents/{package}) imports agents.{sorted(bad)}"
