"""The stable-baselines3 bridge: learning, save/load, starting from module files, freezing, bad input;
SB3 under modrl's PPO settings, and a new robot module taught beside frozen task modules."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import envs
from agents.rl.interface import InterfaceConfig, default_width
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPOConfig
from agents.common.module_files import save_modules
from agents.rl.recombine import load_policy
from agents.sb3 import SB3ModularPolicy
from agents.sb3.training import sb3_ppo_kwargs
from agents.common.spec import ObsBatch, SuiteSpec
from modrl import load_module

ROBOT, TASK = "Arm2", "ReachRed"
ENV_ID = envs.ARMS.env_id(ROBOT, TASK)
SPEC = SuiteSpec.from_suite(envs.ARMS)
SMALL = dict(n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu")


def make_model(env_id: str = ENV_ID, **policy_kwargs) -> PPO:
    kwargs = dict(suite="arms", robot=ROBOT, task=TASK) | policy_kwargs
    return PPO(SB3ModularPolicy, gym.make(env_id), policy_kwargs=kwargs, **SMALL)


def observations(n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    env = gym.make_vec(ENV_ID, n)
    obs, _ = env.reset(seed=seed)
    env.close()
    return obs


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> list[str]:
    return [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]


def modular_outputs(policy: ModularPolicy, obs: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """ModularPolicy's deterministic action (cut to the robot's size) and value on Arm2/ReachRed observations."""
    n = obs["robot"].shape[0]
    pad = lambda x, w: torch.nn.functional.pad(torch.as_tensor(x), (0, w - x.shape[1]))  # noqa: E731
    batch = ObsBatch(pad(obs["robot"], SPEC.robot_width), pad(obs["task"], SPEC.task_width),
                     torch.full((n,), SPEC.robot_id(ROBOT)), torch.full((n,), SPEC.task_id(TASK)))
    with torch.no_grad():
        dist = policy.eval().distribution(batch, {})
        return dist.mode()[:, : SPEC.action_dims[ROBOT]], dist.value


def sb3_outputs(model: PPO, obs: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic action (unclipped: the Gaussian mean) and value."""
    tensors, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        mean = model.policy.get_distribution(tensors).distribution.mean
        return mean, model.policy.predict_values(tensors).flatten()


@pytest.fixture(scope="module")
def trained() -> tuple[PPO, dict[str, torch.Tensor]]:
    model = make_model()
    before = snapshot(model.policy)
    model.learn(256)
    return model, before


def test_learns_a_few_hundred_steps(trained):
    model, before = trained
    logs = model.logger.name_to_value
    for key in ("train/policy_gradient_loss", "train/value_loss", "train/entropy_loss", "train/loss"):
        assert np.isfinite(logs[key]), key
    assert model.num_timesteps >= 256
    moved = changed(before, model.policy)
    assert any("robot" in k for k in moved) and any("task" in k for k in moved)
    assert "mlp_extractor.robot.log_std" in moved  # the std is the robot module's own


def test_policy_is_the_two_modules(trained):
    model, _ = trained
    names = [n for n, _ in model.policy.named_parameters()]
    assert names and all(n.startswith(("mlp_extractor.robot.", "mlp_extractor.task.")) for n in names)


def test_save_load_round_trip(trained, tmp_path):
    model, _ = trained
    obs = observations()
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    assert isinstance(loaded.policy, SB3ModularPolicy)
    a, _ = model.predict(obs, deterministic=True)
    b, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a, b)
    for x, y in zip(sb3_outputs(model, obs), sb3_outputs(loaded, obs)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_starts_from_saved_modules_and_acts_as_modular_policy(tmp_path):
    torch.manual_seed(3)
    policy = ModularPolicy(SPEC, InterfaceConfig(width=8), task_hidden=(32,), robot_hidden=(32, 32))
    with torch.no_grad():  # a recognisable, non-initial log_std
        policy.robot_layer.bank.params[policy.robot_layer.bank._names.index("log_std")].fill_(-0.7)
    save_modules(policy, tmp_path, "arms")
    model = make_model(robots_from=str(tmp_path), tasks_from=str(tmp_path))
    for role, name in (("robot", ROBOT), ("task", TASK)):
        saved = load_module(tmp_path / role / f"{name}.pt").state_dict()
        mine = getattr(model.policy.mlp_extractor, role).state_dict()
        assert saved.keys() == mine.keys()
        for key in saved:
            torch.testing.assert_close(mine[key], saved[key], rtol=0, atol=0)
    obs = observations()
    for x, y in zip(sb3_outputs(model, obs), modular_outputs(policy, obs)):
        torch.testing.assert_close(x, y)
    torch.testing.assert_close(model.policy.log_std, torch.full((2,), -0.7))


def test_sb3_modules_load_into_modular_policy(trained, tmp_path):
    model, _ = trained
    model.policy.save_modules(tmp_path)
    policy = load_policy(SPEC, tmp_path, tmp_path, [ROBOT], [TASK])
    obs = observations()
    for x, y in zip(sb3_outputs(model, obs), modular_outputs(policy, obs)):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("frozen", ["robot", "task"])
def test_frozen_module_does_not_learn(frozen):
    model = make_model(freeze=(frozen,))
    learning = "task" if frozen == "robot" else "robot"
    before = {role: snapshot(getattr(model.policy.mlp_extractor, role)) for role in ("robot", "task")}
    model.learn(128)
    assert changed(before[frozen], getattr(model.policy.mlp_extractor, frozen)) == []
    assert changed(before[learning], getattr(model.policy.mlp_extractor, learning))


@pytest.mark.parametrize("kwargs, message", [
    (dict(robot="Arm9"), "valid robots"),
    (dict(task="Fetch"), "valid tasks"),
    (dict(suite="atari"), "valid suites"),
    (dict(freeze=("arm",)), "valid roles"),
    (dict(robot="Arm3"), "Arm3"),  # the env is Arm2's
    (dict(net_arch=[64]), "net_arch"),
])
def test_bad_input_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_model(**kwargs)


def test_missing_module_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="Arm2"):
        make_model(robots_from=str(tmp_path))


def test_module_sizes_conflicting_with_file_raise(tmp_path):
    save_modules(ModularPolicy(SPEC, InterfaceConfig(width=4)), tmp_path, "arms")
    with pytest.raises(ValueError, match="ask for 16"):
        make_model(robots_from=str(tmp_path), interface_dim=16)
    wide = save_modules(ModularPolicy(SPEC, InterfaceConfig(width=16)), tmp_path / "wide", "arms")[0].parents[1]
    with pytest.raises(ValueError, match="interface"):  # 4-wide robot module, 16-wide task module
        make_model(robots_from=str(tmp_path), tasks_from=str(wide))


def test_affine_coupled_robot_modules_are_refused_by_name(tmp_path):
    save_modules(ModularPolicy(SPEC, InterfaceConfig(coupling="affine").resolve("arms")), tmp_path, "arms")
    with pytest.raises(ValueError, match="affine coupling"):
        make_model(robots_from=str(tmp_path))


def test_a_model_saved_at_another_width_loads_only_when_told_the_width(tmp_path):
    make_model(interface_dim=16).save(tmp_path / "wide.zip")
    pair_kwargs = dict(suite="arms", robot=ROBOT, task=TASK)
    with pytest.raises(ValueError, match="interface_dim=16"):  # the kwargs alone give the arms default, 2
        PPO.load(tmp_path / "wide.zip", custom_objects={"policy_kwargs": pair_kwargs})
    loaded = PPO.load(tmp_path / "wide.zip", custom_objects={"policy_kwargs": pair_kwargs | {"interface_dim": 16}})
    assert loaded.policy.mlp_extractor.robot.config["actor_in"] == 16


@pytest.mark.parametrize("role", ["robot", "task"])
def test_fresh_module_fits_the_interface_of_the_module_from_a_file(role, tmp_path):
    save_modules(ModularPolicy(SPEC, InterfaceConfig(width=4)), tmp_path, "arms")
    model = make_model(**{f"{role}s_from": str(tmp_path)})
    pair = model.policy.mlp_extractor
    assert pair.task.config["actor_out"] == pair.robot.config["actor_in"] == 4


def test_fresh_modules_take_the_suite_default_interface():
    pair = make_model().policy.mlp_extractor
    assert pair.task.config["actor_out"] == default_width("arms") == 2


def test_sb3_ppo_kwargs_carry_modrl_settings():
    kwargs = sb3_ppo_kwargs(PPOConfig(num_envs=8, num_steps=32, num_minibatches=4, learning_rate=0.01, seed=7))
    assert (kwargs["n_steps"], kwargs["batch_size"], kwargs["seed"], kwargs["clip_range_vf"]) == (32, 64, 7, 0.2)
    assert kwargs["learning_rate"](1.0) == 0.01 and kwargs["learning_rate"](0.5) == 0.005  # annealed to 0
    fixed = sb3_ppo_kwargs(PPOConfig(anneal_lr=False, clip_vloss=False, norm_adv=False))
    assert (fixed["learning_rate"], fixed["clip_range_vf"], fixed["normalize_advantage"]) == (1e-3, None, False)
    with pytest.raises(ValueError, match="compile"):
        sb3_ppo_kwargs(PPOConfig(compile=True))
    with pytest.raises(ValueError, match="minibatches"):
        sb3_ppo_kwargs(PPOConfig(num_envs=3, num_steps=5, num_minibatches=2))


def test_new_robot_module_learns_beside_frozen_task_modules_and_runs_every_task(tmp_path, script):
    modules = save_modules(ModularPolicy(SPEC, InterfaceConfig(width=2)), tmp_path / "run", "arms")[0].parents[1]
    new_robot = script("new_robot")
    args = new_robot.NewRobotArgs(modules=modules, robot="Arm4", task="ReachBlue", seeds=(3,), episodes=4,
                                  ppo=PPOConfig(total_timesteps=2 * 8 * 16, num_envs=8, num_steps=16,
                                                num_minibatches=2, update_epochs=2), out=tmp_path / "out")
    records = new_robot.main(args)
    tasks = ("ReachRed", "ReachBlue", "Push")
    assert {(r["policy"], r["task"], r["split"]) for r in records} == {
        (p, t, "train" if t == "ReachBlue" else "holdout") for p in ("new robot module", "untrained robot module")
        for t in tasks} | {("the run's own robot module", t, "reference") for t in tasks}
    assert {r["interface_dim"] for r in records} == {2}
    assert [r["seed"] for r in records if r["split"] == "reference"] == [None] * 3  # one module, evaluated once
    seed_dir = tmp_path / "out" / "seed3"
    task_before = snapshot(load_module(modules / "task" / "ReachBlue.pt"))
    assert not changed(task_before, load_module(seed_dir / "task" / "ReachBlue.pt"))  # frozen
    robot_before = snapshot(load_module(seed_dir / "untrained" / "robot" / "Arm4.pt"))
    assert changed(robot_before, load_module(seed_dir / "robot" / "Arm4.pt"))
    assert (tmp_path / "out" / "zero_shot.png").exists()
    with pytest.raises(ValueError, match="valid robots"):
        replace(args, robot="Arm9")
    with pytest.raises(FileNotFoundError, match="no task module"):
        replace(args, modules=tmp_path / "out" / "seed3")  # holds ReachBlue only
    with pytest.raises(ValueError, match="seed"):
        replace(args, seeds=())
    with pytest.raises(ValueError, match="compile"):
        replace(args, ppo=replace(args.ppo, compile=True))
