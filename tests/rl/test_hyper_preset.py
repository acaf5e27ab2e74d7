"""arms6's modular policy generates its task modules from a shared base by default (`HYPER_PRESETS`);
the flag with no role turns that off, a run started before the preset resumes only when told so,
and the monolithic policy is refused the flag."""

from __future__ import annotations

import json

import pytest

import envs
from agents.common.spec import SuiteSpec
from agents.rl.experiment import ExperimentConfig, check_resumable, run
from agents.rl.policies import POLICIES
from tests.conftest import load_script


def task_bank(cfg: ExperimentConfig) -> str:
    policy = POLICIES.get("modular").build(SuiteSpec.from_suite(envs.get_suite(cfg.suite)), cfg)
    return type(policy.task_layer.bank).__name__


def test_arms6_task_modules_come_from_a_shared_base_unless_the_flag_says_none():
    assert ExperimentConfig(suite="arms6", out=None).hyper_banks == ("task",)
    assert task_bank(ExperimentConfig(suite="arms6", out=None)) == "HyperBank"
    assert task_bank(ExperimentConfig(suite="arms6", hyper_banks=(), out=None)) == "ModuleBank"
    for suite in ("arms", "grid", "grid6"):
        assert ExperimentConfig(suite=suite, out=None).hyper_banks == ()
    assert ExperimentConfig(suite="arms6", policy=("monolithic",), out=None).hyper_banks == ()


def test_hyper_banks_without_the_modular_policy_is_refused():
    with pytest.raises(ValueError, match="--hyper-banks is the modular policy's"):
        ExperimentConfig(suite="arms6", policy=("monolithic",), hyper_banks=("task",), out=None)


def test_an_arms6_run_from_before_the_preset_resumes_only_with_the_flag_that_keeps_its_banks(tmp_path):
    before = ExperimentConfig(suite="arms6", hyper_banks=(), out=tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(before.to_json()))
    with pytest.raises(ValueError, match=r"to resume it, pass --hyper-banks$"):
        run(ExperimentConfig(suite="arms6", out=tmp_path, resume=True))
    check_resumable(ExperimentConfig(suite="arms6", hyper_banks=(), out=tmp_path, resume=True))


def test_the_sweep_matches_the_monolithic_width_to_the_preset_modular_policy():
    sweep = load_script("sweep")
    interface = ExperimentConfig(suite="arms6", out=None).interface
    preset, plain = sweep.matched_width("arms6", interface), sweep.matched_width("arms6", interface, ())
    assert preset > plain  # the shared base and codes add parameters, so the baseline widens with them
