"""Bad files, one table: every loader refuses each one with one ValueError naming the file and what is
wrong with it, in one line, and never runs code from it (module files, then PPO checkpoints)."""

from __future__ import annotations

import functools
import json
import pickle
import resource
import shutil
import time
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import envs
from agents.common.module_files import load_module_file, save_modules
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPO, PPOConfig
from modrl import ModuleBank, build_module, load_into_bank, load_module, read_header, save_module

SPEC = SuiteSpec.from_suite(envs.ARMS)
ROBOT, TASK = "Arm2", "ReachRed"
MARKER = "ran_code.txt"  # what the malicious pickles would create beside the file if they were unpickled


class RunsCode:
    """Unpickling this runs `open(marker, "w")`: the harmless stand-in for any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def edit(path: Path, change) -> None:
    """Rewrite a module file: `change(header, state_dict)` edits them in place."""
    blob = torch.load(path, weights_only=True)
    header = json.loads(blob["header"])
    change(header, blob["state_dict"])
    torch.save({"header": json.dumps(header), "state_dict": blob["state_dict"]}, path)


def set_tensor(name: str, value) -> callable:
    def change(header, state):
        state[name] = value(state[name])
    return change


def huge_hidden(header, state):
    header["config"]["hidden"] = [100_000, 100_000]  # 40 GB of weights, were it believed


def malicious_torch_file(path: Path) -> None:
    torch.save({"header": "{}", "state_dict": {"w": RunsCode(path.parent / MARKER)}}, path)


def malicious_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps(RunsCode(path.parent / MARKER)))


def copy_from(directory: str) -> callable:
    def make(path: Path) -> None:
        shutil.copy(path.parents[2] / directory / "robot" / f"{ROBOT}.pt", path)
    return make


FILE = ("read_header", "load_module", "load_into_bank", "load_module_file", "sb3")  # every loader
TENSORS = FILE[1:]  # those that build the module (read_header reads only the header)
NAMED = ("load_module_file", "sb3")  # those that know the name, role and suite a file should have

# case: (make the file from the good one at `path`, loaders, exception type, phrase of the one-line message)
MODULE_CASES = {
    "malicious_torch_file": (malicious_torch_file, FILE, ValueError, "pickled Python objects"),
    "malicious_pickle": (malicious_pickle, FILE, ValueError, "pickled Python objects"),
    "truncated_half": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), FILE, ValueError, "truncated"),
    "truncated_end": (lambda p: p.write_bytes(p.read_bytes()[:-10]), FILE, ValueError, "truncated"),
    "empty": (lambda p: p.write_bytes(b""), FILE, ValueError, "is empty"),
    "not_torch": (lambda p: p.write_text("robot: Arm2\n"), FILE, ValueError, "not a torch file"),
    "plain_state_dict": (lambda p: torch.save({"weight": torch.zeros(2)}, p), FILE, ValueError,
                         "not a modrl module file"),
    "header_not_json": (lambda p: torch.save({"header": "{kind: mlp", "state_dict": {}}, p), FILE, ValueError,
                        "header is not JSON"),
    "header_lacks_config": (lambda p: edit(p, lambda h, s: h.pop("config")), FILE, ValueError, "lacks 'config'"),
    "other_format": (lambda p: edit(p, lambda h, s: h.update(format="modrl.module/0")), FILE, ValueError, "format"),
    "unknown_kind": (lambda p: edit(p, lambda h, s: h.update(kind="transformer")), TENSORS, ValueError,
                     "unknown module kind 'transformer'"),
    "bad_config": (lambda p: edit(p, lambda h, s: h["config"].update(hidden=64)), TENSORS, ValueError,
                   "config does not build"),
    "wrong_shapes": (lambda p: edit(p, set_tensor("input_bias", lambda t: torch.zeros(2, 3))), TENSORS, ValueError,
                     "'input_bias' has shape (2, 3)"),
    "missing_tensor": (lambda p: edit(p, lambda h, s: s.pop("log_std")), TENSORS, ValueError, "lacks tensors ['log_std']"),
    "header_lies": (lambda p: edit(p, huge_hidden), TENSORS, ValueError, "do not match its header"),
    "nan_weights": (lambda p: edit(p, set_tensor("input_bias", lambda t: t.fill_(float("nan")))), TENSORS, ValueError,
                    "NaN or infinite"),
    "inf_weights": (lambda p: edit(p, set_tensor("log_std", lambda t: t.fill_(float("inf")))), TENSORS, ValueError,
                    "NaN or infinite"),
    "other_suite": (copy_from("grid_suite"), NAMED, ValueError, "trained on suite 'grid', not 'arms'"),
    "renamed": (copy_from("renamed"), NAMED, ValueError, "renamed"),
    "untrained": (copy_from("untrained"), NAMED, UserWarning, "never trained"),
    "missing": (lambda p: p.unlink(), FILE, FileNotFoundError, ROBOT),
}


@pytest.fixture(scope="module")
def good_files(tmp_path_factory) -> Path:
    """`arms/robot/*.pt` of a fresh ModularPolicy, and the variants the cases copy from."""
    root = tmp_path_factory.mktemp("modules")
    policy = ModularPolicy(SPEC)
    save_modules(policy, root / "arms", "arms")
    save_modules(policy, root / "grid_suite", "grid")
    save_modules(policy, root / "untrained", "arms", untrained=[("robot", ROBOT)])
    (root / "renamed" / "robot").mkdir(parents=True)
    shutil.copy(root / "arms" / "robot" / "Arm3.pt", root / "renamed" / "robot" / f"{ROBOT}.pt")
    return root


def load(loader: str, directory: Path) -> None:
    path = directory / "robot" / f"{ROBOT}.pt"
    if loader == "read_header":
        read_header(path)
    elif loader == "load_module":
        load_module(path)
    elif loader == "load_into_bank":
        load_into_bank(ModuleBank("actor_critic", 2, **robot_config()), 1, path)
    elif loader == "load_module_file":
        load_module_file(directory, "robot", ROBOT, "arms")
    else:  # SB3ModularPolicy._module, through the policy's construction
        from stable_baselines3 import PPO as SB3PPO

        from agents.sb3 import SB3ModularPolicy
        SB3PPO(SB3ModularPolicy, gym.make(envs.ARMS.env_id(ROBOT, TASK)), device="cpu",
               policy_kwargs=dict(suite="arms", robot=ROBOT, task=TASK, robots_from=str(directory)))


@functools.cache
def robot_config() -> dict:
    """The config of the robot modules of a fresh ModularPolicy (the files' own, before the cases change them)."""
    return ModularPolicy(SPEC).robot_layer.bank.config


@pytest.mark.parametrize("case, loader", [(case, loader) for case, (_, loaders, _, _) in MODULE_CASES.items()
                                          for loader in loaders])
def test_a_bad_module_file_is_refused_in_one_line(case, loader, good_files, tmp_path):
    make, _, error, phrase = MODULE_CASES[case]
    directory = tmp_path / "modules"
    shutil.copytree(good_files / "arms", directory)
    shutil.copytree(good_files, tmp_path, dirs_exist_ok=True)  # the variants copy_from reads
    make(directory / "robot" / f"{ROBOT}.pt")
    if issubclass(error, Warning):
        with pytest.warns(error) as caught:
            load(loader, directory)
        message = str(caught[0].message)
    else:
        with pytest.raises(error) as caught:
            load(loader, directory)
        message = str(caught.value)
    assert phrase in message and ROBOT in message and "\n" not in message, message
    assert "weights_only" not in message  # never advise unpickling
    assert not (directory / "robot" / MARKER).exists(), "unpickling ran code from the file"


def test_a_header_that_lies_fails_fast_without_allocating(good_files, tmp_path):
    path = tmp_path / "m.pt"
    shutil.copy(good_files / "arms" / "robot" / f"{ROBOT}.pt", path)
    load_module(path)  # once whole: the first meta-device build in a process imports parts of torch
    edit(path, huge_hidden)
    assert path.stat().st_size < 100_000
    peak, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(ValueError, match=r"do not match its header.*expected \(2, 100000\)"):
        load_module(path)
    assert time.perf_counter() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # kB: nothing near 40 GB


def test_saving_is_atomic_and_refuses_non_finite_modules(tmp_path, monkeypatch):
    module = build_module("linear", in_features=3, out_features=2)
    path = save_module(module, tmp_path / "m.pt")
    before = path.read_bytes()
    with torch.no_grad():
        module.linear.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"not writing .*m\.pt: .*'linear.weight'\] holds NaN or infinite"):
        save_module(module, path)
    assert path.read_bytes() == before

    def killed_mid_write(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        save_module(build_module("linear", in_features=3, out_features=2), path)
    assert path.read_bytes() == before  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # and no temporary file left


# -- PPO checkpoints --------------------------------------------------------------------------


def edit_checkpoint(change):
    def make(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        change(state)
        torch.save(state, path)
    return make


def nan_policy(state):
    name = next(iter(state["policy"]))
    state["policy"][name] = torch.full_like(state["policy"][name], float("nan"))


def resized_policy(state):
    name = next(iter(state["policy"]))
    state["policy"][name] = torch.zeros(3, 3, 3)


def malicious_checkpoint(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["optimizer"] = RunsCode(path.parent / MARKER)
    torch.save(state, path)


# case: (make the checkpoint from a good one at `path`, exception type, phrase of the one-line message)
CHECKPOINT_CASES = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-10]), ValueError, "truncated"),
    "empty": (lambda p: p.write_bytes(b""), ValueError, "is empty"),
    "pickled_object": (malicious_checkpoint, ValueError, "pickled Python objects"),
    "not_a_checkpoint": (lambda p: save_module(build_module("linear", in_features=2, out_features=2), p), ValueError,
                         "no run config"),
    "wrong_sizes": (edit_checkpoint(resized_policy), ValueError, "other sizes"),
    "optimizer_sizes": (edit_checkpoint(lambda s: s["optimizer"]["state"].update({0: {"exp_avg": torch.zeros(3)}})),
                        ValueError, "optimizer state is for 3 parameters"),
    "nan_weights": (edit_checkpoint(nan_policy), ValueError, "NaN or infinite"),
    "config_not_json": (edit_checkpoint(lambda s: s.update(config="{seed")), ValueError, "not JSON"),
    "lacks_policy": (edit_checkpoint(lambda s: s.pop("policy")), ValueError, "lacks the policy's weights"),
}


def _ppo(run_dir: Path) -> PPO:
    config = PPOConfig(num_envs=1, num_steps=4, num_minibatches=1, update_epochs=1, total_timesteps=4)
    return PPO(ModularPolicy(SPEC), MultiPairEnv(envs.ARMS, SPEC, [(ROBOT, TASK)], 1), config, run_dir,
               progress=False)


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_a_bad_checkpoint_is_refused_in_one_line(case, tmp_path):
    make, error, phrase = CHECKPOINT_CASES[case]
    ppo = _ppo(tmp_path)
    ppo.save_checkpoint()
    assert _ppo(tmp_path).load_checkpoint()  # the good one loads
    make(ppo.checkpoint_path)
    with pytest.raises(error) as caught:
        _ppo(tmp_path).load_checkpoint()
    message = str(caught.value)
    assert phrase in message and "checkpoint.pt" in message and "\n" not in message, message
    assert "weights_only" not in message
    assert not (tmp_path / MARKER).exists(), "unpickling ran code from the file"
