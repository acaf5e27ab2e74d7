"""Imports point downward only: modrl imports neither envs, agents, gymnasium nor stable-baselines3."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN_FOR_MODRL = ("gymnasium", "stable_baselines3", "minigrid", "envs", "agents", "tensorboard", "matplotlib")


def test_modrl_imports_only_torch_and_numpy():
    code = (
        "import sys, modrl\n"
        f"bad = [m for m in {FORBIDDEN_FOR_MODRL!r} if m in sys.modules]\n"
        "assert not bad, f'modrl imported {bad}'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
