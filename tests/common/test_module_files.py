"""Module files: one per module, with their origin; untrained and renamed files are caught on load."""

from __future__ import annotations

import shutil

import pytest

import envs
from agents.common.module_files import load_module_file, save_modules
from agents.common.spec import SuiteSpec
from agents.rl.experiment import untrained_modules
from agents.rl.policies import ModularPolicy
from modrl import read_header

SPEC = SuiteSpec.from_suite(envs.ARMS)


def test_untrained_modules_are_marked_and_warn_on_load(tmp_path):
    policy = ModularPolicy(SPEC)
    untrained = untrained_modules(policy, [("Arm2", "ReachRed")])
    assert ("robot", "Arm2") not in untrained and ("task", "ReachRed") not in untrained
    assert {("robot", "Arm3"), ("task", "Push")} <= set(untrained)
    save_modules(policy, tmp_path, "arms", untrained=untrained)
    assert "trained" not in read_header(tmp_path / "robot" / "Arm2.pt")["metadata"]
    assert read_header(tmp_path / "robot" / "Arm3.pt")["metadata"]["trained"] == "false"
    load_module_file(tmp_path, "robot", "Arm2", "arms")  # trained: no warning (pytest's filter turns one into an error)
    with pytest.warns(UserWarning, match="never trained"):
        load_module_file(tmp_path, "robot", "Arm3", "arms")


def test_a_renamed_module_file_is_refused(tmp_path):
    save_modules(ModularPolicy(SPEC), tmp_path, "arms")
    shutil.copy(tmp_path / "robot" / "Arm2.pt", tmp_path / "robot" / "Arm3.pt")
    with pytest.raises(ValueError, match="renamed"):
        load_module_file(tmp_path, "robot", "Arm3", "arms")
    with pytest.raises(FileNotFoundError, match="found"):
        load_module_file(tmp_path, "robot", "Arm9", "arms")
    with pytest.raises(ValueError, match="role"):
        save_modules({"gripper": {}}, tmp_path, "arms")
