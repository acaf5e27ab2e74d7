"""Every refusal a script makes is one line on stderr with exit status 2, and leaves an existing
--out exactly as it was."""

from __future__ import annotations

import json

import pytest
import torch

from agents.common.cli import run_cli
from agents.rl.experiment import EvalConfig, ExperimentConfig, run
from agents.rl.ppo import PPOConfig, TrainingDiverged

TINY = ["--ppo.num-envs", "2", "--ppo.num-steps", "8", "--ppo.num-minibatches", "2", "--ppo.update-epochs", "1",
        "--ppo.total-timesteps", "16", "--eval.episodes", "1", "--no-progress", "--eval.no-random-baseline",
        "--pairs", "Arm2:ReachRed"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished one-update run whose folder every case below must leave untouched."""
    out = tmp_path_factory.mktemp("run") / "a"
    run(ExperimentConfig(pairs=("Arm2:ReachRed",), out=out, progress=False, eval=EvalConfig(1, random_baseline=False),
                         ppo=PPOConfig(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1, total_timesteps=16)))
    return out


# (script, its config class, arguments, a phrase the message must contain); "{out}" is the finished run
CASES = [
    ("train", "ExperimentConfig", ["--ppo.max-grad-norm", "-0.5"], "max-grad-norm must be positive"),
    ("train", "ExperimentConfig", ["--ppo.vf-coef", "-1"], "vf-coef"),
    ("train", "ExperimentConfig", ["--ppo.target-kl", "0"], "target-kl must be positive"),
    ("train", "ExperimentConfig", ["--eval.episodes", "0"], "eval.episodes"),
    ("train", "ExperimentConfig", ["--suite", "mujoco"], "valid suites"),
    ("train", "ExperimentConfig", ["--holdout", "Arm9:Push"], "valid robots"),
    ("train", "ExperimentConfig", ["--holdout", "Arm2-Push"], "Robot:Task"),
    ("train", "ExperimentConfig", ["--pairs", "Arm2:Push", "Arm3:Push", "--holdout", "Arm4:Push"], "not among --pairs"),
    ("train", "ExperimentConfig", ["--interface.width", "0"], "interface width"),
    ("train", "ExperimentConfig", [*TINY, "--out", "{out}"], "--resume to continue it"),
    ("train", "ExperimentConfig", [*TINY, "--out", "{out}", "--resume", "--ppo.learning-rate", "0.1"],
     "--ppo.learning-rate 0.001"),
    ("train", "ExperimentConfig", [*TINY, "--out", "{out}/missing", "--resume"], "holds no run"),
    ("zero_shot", "ZeroShotArgs", ["--pairs", "Arm2:ReachRed", "--modules", "{out}/nowhere"], "no robot module"),
    ("zero_shot", "ZeroShotArgs", ["--pairs", "Arm2:ReachRed"], "say where the modules are"),
    ("zero_shot", "ZeroShotArgs", ["--pairs", "Arm2:Juggle", "--modules", "{out}"], "valid tasks"),
    ("new_robot", "NewRobotArgs", ["--modules", "{out}/nowhere"], "no modules directory"),
    ("digits_mtl", "Args", ["--methods", "bagging", "--seeds", "0"], "unknown supervised method"),
]


def _snapshot(folder) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name,config,args,phrase", CASES, ids=[f"{c[0]}:{c[3]}" for c in CASES])
def test_a_refusal_is_one_line_with_exit_status_2(script, capsys, finished_run, name, config, args, phrase):
    before = _snapshot(finished_run)
    module = script(name)
    with pytest.raises(SystemExit) as exit_:
        run_cli(module.main, getattr(module, config), [a.replace("{out}", str(finished_run)) for a in args])
    captured = capsys.readouterr()
    message = " ".join((captured.err + captured.out).split())
    assert exit_.value.code == 2, message
    assert phrase in message
    assert "Traceback" not in captured.err
    assert _snapshot(finished_run) == before


def test_a_diverging_run_stops_with_one_line_and_keeps_its_last_good_checkpoint(tmp_path):
    cfg = ExperimentConfig(pairs=("Arm2:ReachRed",), out=tmp_path, progress=False,
                           eval=EvalConfig(1, random_baseline=False),
                           ppo=PPOConfig(num_envs=4, num_steps=16, num_minibatches=4, update_epochs=4,
                                         total_timesteps=64 * 6, checkpoint_every=1, learning_rate=1e3))
    with pytest.raises(TrainingDiverged, match=r"update \d+: the PPO (loss|gradient norm) is (nan|inf)") as error:
        run(cfg)
    assert "\n" not in str(error.value) and "learning-rate" in str(error.value)
    checkpoint = tmp_path / "modular" / "seed1" / "checkpoint.pt"
    if checkpoint.exists():  # a checkpoint holds only finite parameters
        state = torch.load(checkpoint, weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["policy"].values())
    assert not (tmp_path / "modular" / "seed1" / "modules").exists()  # no module file of a diverged run
    assert json.loads((tmp_path / "config.json").read_text())["ppo"]["learning_rate"] == 1e3
