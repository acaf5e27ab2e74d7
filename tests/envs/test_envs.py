"""Table-driven checks over every registered modrl env (fast: a few seconds)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import ARMS, ARMS6, GRID, GRID6, get_suite, grid6
from envs.arms import ArmCore, ArmEnv, ArmVectorEnv, forward_kinematics, scripted_action
from envs.grid import ROBOTS as GRID_ROBOTS
from envs.grid import make_grid_env

SUITES = (ARMS, ARMS6, GRID)
ARM_SUITES = (ARMS, ARMS6)
CASES = [(suite, robot, task) for suite in (*SUITES, GRID6) for robot, task in suite.pairs()]
IDS = [suite.env_id(robot, task) for suite, robot, task in CASES]
ARM_CASES = [(suite, robot, task) for suite in ARM_SUITES for robot, task in suite.pairs()]
ARM_IDS = [suite.env_id(robot, task) for suite, robot, task in ARM_CASES]


def _equal(a, b) -> bool:
    """Deep equality of observations / infos made of dicts and arrays."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and a.dtype == object:
        return all(_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b)


def _idle_action(suite, robot: str):
    """An action that never completes a task: arms stay still, grid robots turn or toggle."""
    if suite in ARM_SUITES:
        return np.zeros(suite.action_space(robot).shape, dtype=np.float32)
    names = GRID_ROBOTS[robot] if suite is GRID else grid6.ROBOTS[robot].actions
    return names.index("left") if "left" in names else names.index("toggle")


def test_every_pair_is_registered():
    for env_id in IDS:
        assert env_id in gym.registry
    assert len(set(IDS)) == len(IDS) >= 60


@pytest.mark.parametrize("suite,robot,task", CASES, ids=IDS)
def test_check_env_and_spaces(suite, robot, task):
    env = gym.make(suite.env_id(robot, task))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env, warn=False)
    assert env.action_space == suite.action_space(robot)
    obs, info = env.reset(seed=0)
    assert obs["robot"].shape == (suite.robot_obs_dim(robot),) and obs["robot"].dtype == np.float32
    assert obs["task"].shape == (suite.task_obs_dim(task),) and obs["task"].dtype == np.float32
    assert isinstance(info["is_success"], bool) and isinstance(info["distance"], float)


@pytest.mark.parametrize("suite,robot,task", CASES, ids=IDS)
def test_seeded_determinism(suite, robot, task):
    a, b = gym.make(suite.env_id(robot, task)), gym.make(suite.env_id(robot, task))
    a.action_space.seed(3)
    assert _equal(a.reset(seed=3), b.reset(seed=3))
    for _ in range(60):
        action = a.action_space.sample()
        ra, rb = a.step(action), b.step(action)
        assert _equal(ra, rb)
        if ra[2] or ra[3]:
            assert _equal(a.reset(), b.reset())


@pytest.mark.parametrize("suite,robot,task", CASES, ids=IDS)
def test_pickle_round_trip(suite, robot, task):
    env = gym.make(suite.env_id(robot, task))
    env.reset(seed=1)
    env.step(_idle_action(suite, robot))
    copy = pickle.loads(pickle.dumps(env))
    action = env.action_space.sample()
    assert _equal(env.step(action), copy.step(action))


@pytest.mark.parametrize("suite,robot,task", CASES, ids=IDS)
def test_truncates_at_max_episode_steps(suite, robot, task):
    env = gym.make(suite.env_id(robot, task))
    max_steps = env.spec.max_episode_steps
    assert max_steps is not None and max_steps <= 100
    env.reset(seed=2)
    for t in range(1, max_steps + 1):
        _, _, terminated, truncated, info = env.step(_idle_action(suite, robot))
        assert "is_success" in info and 0.0 <= info["distance"] <= 2.0
        assert not terminated
        assert truncated == (t == max_steps)


@pytest.mark.parametrize("suite,robot,task", ARM_CASES, ids=ARM_IDS)
def test_arms_native_vector_matches_single_env(suite, robot, task):
    env_id = suite.env_id(robot, task)
    vec = gym.make_vec(env_id, num_envs=1)
    assert isinstance(vec.unwrapped, ArmVectorEnv) and vec.unwrapped.suite == suite.name
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    single = gym.make(env_id)
    rng = np.random.default_rng(0)
    obs_v, _ = vec.reset(seed=5)
    obs_s, _ = single.reset(seed=5)
    ends = 0
    for _ in range(300):  # several episodes: successes and time limits
        action = scripted_action(robot, task, obs_s, suite.name) + rng.normal(0, 0.8, vec.single_action_space.shape)
        action = action.astype(np.float32)
        obs_v, r_v, term_v, trunc_v, info_v = vec.step(action[None])
        obs_s, r_s, term_s, trunc_s, info_s = single.step(action)
        # TimeLimit truncates at the limit even on the step that terminates; the vector env only truncates
        assert (r_v[0], term_v[0], trunc_v[0]) == (r_s, term_s, trunc_s and not term_s)
        if term_s or trunc_s:
            ends += 1
            assert info_v["_final_obs"][0]
            assert _equal(info_v["final_obs"][0], obs_s)
            assert info_v["final_info"]["is_success"][0] == info_s["is_success"]
            obs_s, info_s = single.reset()
        assert _equal(obs_v, {k: v[None] for k, v in obs_s.items()})
        assert info_v["is_success"][0] == info_s["is_success"]
        assert np.isclose(info_v["distance"][0], info_s["distance"])
    assert ends >= 2


def test_arms_vector_is_batched_and_reproducible():
    a, b = (ARMS.make("Arm4", "Push", 16, seed=11) for _ in range(2))
    assert isinstance(a, ArmVectorEnv) and a.observation_space["task"].shape == (16, 6)
    assert _equal(a.reset(), b.reset())
    for _ in range(120):
        action = a.action_space.sample()
        assert _equal(a.step(action), b.step(action))


@pytest.mark.parametrize("suite,robot,task", ARM_CASES, ids=ARM_IDS)
def test_scripted_controller_solves_every_arms_pair(suite, robot, task):
    env = gym.make_vec(suite.env_id(robot, task), num_envs=64)
    obs, _ = env.reset(seed=0)
    finished = np.zeros(64, dtype=bool)
    success = np.zeros(64, dtype=bool)
    for _ in range(env.unwrapped.max_episode_steps):
        obs, _, terminated, truncated, info = env.step(scripted_action(robot, task, obs, suite.name))
        if terminated.any():  # Avoid also ends, unsuccessfully, on contact
            success |= terminated & ~finished & info["final_info"]["is_success"]
        finished |= terminated | truncated
    assert finished.all()
    assert success.mean() >= 0.9, f"{robot}-{task}: scripted success {success.mean():.2f}"


def test_grid_suite_vector_env_autoresets_same_step():
    vec = GRID.make("Cardinal", "Goal", 4, seed=0)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    vec.reset()
    for _ in range(200):
        obs, _, terminated, truncated, info = vec.step(vec.action_space.sample())
        if (terminated | truncated).any():
            i = int(np.flatnonzero(terminated | truncated)[0])
            assert info["final_obs"][i]["task"].shape == (GRID.task_obs_dim("Goal"),)
            assert "is_success" in info["final_info"]
            return
    pytest.fail("no episode ended in 200 steps")


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="arms.*arms6.*grid"):
        get_suite("nope")
    with pytest.raises(ValueError, match="Arm3Accel"):
        ARMS6.env_id("Arm4", "Hold")  # Arm4 is an arms robot, not an arms6 one
    with pytest.raises(ValueError, match=r"Push'\]? \('Hold' is in suite arms6"):
        ArmEnv(robot="Arm3", task="Hold")  # Hold is an arms6 task
    with pytest.raises(ValueError, match="Avoid"):
        scripted_action("Arm5", "Throw", {"robot": np.zeros(12), "task": np.zeros(6)}, "arms6")
    with pytest.raises(ValueError, match="arms6"):
        ArmCore("Arm3", "Push", 1, suite="arms7")
    with pytest.raises(ValueError, match="Arm2"):
        ARMS.env_id("Arm9", "ReachRed")
    with pytest.raises(ValueError, match="ReachRed"):
        ARMS.make("Arm3", "Fly", 2)
    with pytest.raises(ValueError, match="Cardinal"):
        GRID.check("Wheel", "Goal")
    with pytest.raises(ValueError, match="Door"):
        GRID.task_obs_dim("Lava")
    with pytest.raises(ValueError, match="Arm3Long"):
        ArmEnv(robot="Arm7")
    with pytest.raises(ValueError, match="Ego"):
        make_grid_env(robot="Legs")
    with pytest.raises(ValueError, match="Push"):
        scripted_action("Arm2", "Throw", {"robot": np.zeros(6), "task": np.zeros(6)})


@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_splits(suite):
    default = suite.splits()
    assert default["holdout"] and set(default["train"]).isdisjoint(default["holdout"])
    assert sorted(default["train"] + default["holdout"]) == sorted(suite.pairs())
    assert {r for r, _ in default["train"]} == set(suite.robots)
    assert {t for _, t in default["train"]} == set(suite.tasks)
    pair = (suite.robots[-1], suite.tasks[0])
    custom = suite.splits(holdout=[pair])
    assert custom["holdout"] == [pair] and len(custom["train"]) == len(suite.pairs()) - 1
    assert suite.splits(holdout=[])["train"] == suite.pairs()
    with pytest.raises(ValueError, match="valid robots"):
        suite.splits(holdout=[("Nobody", suite.tasks[0])])
    with pytest.raises(ValueError, match="repeated"):
        suite.splits(holdout=[pair, pair])
    with pytest.raises(ValueError, match="no training pair"):
        suite.splits(holdout=[(suite.robots[0], t) for t in suite.tasks])


ROTATED = [("arms", "Arm2", "ReachRed"), ("arms", "Arm3", "Push"), ("arms", "Arm4", "ReachBlue"),
           ("arms6", "Arm3Accel", "Track"), ("arms6", "Arm5", "Avoid"), ("arms6", "Arm3Flip", "Hold"),
           ("arms6", "Arm3Tight", "ReachBlue")]


@pytest.mark.parametrize("suite,robot,task", ROTATED)
def test_arms_observations_are_rotation_invariant(suite, robot, task):
    """Turning the base and every object by the same angle leaves the observation unchanged."""
    core = ArmCore(robot, task, 4, suite)
    core.reset(np.ones(4, bool), np.random.default_rng(0))
    for _ in range(3):  # joint speeds, held steps and a moved target are observed too
        core.step(np.random.default_rng(1).uniform(-1, 1, (4, len(core.links))))
    before = core.obs()
    turn = np.array([0.3, -2.0, 3.0, 1.0])
    c, s = np.cos(turn)[:, None], np.sin(turn)[:, None]
    x, y = core.objects[..., 0], core.objects[..., 1]
    core.objects = np.stack([c * x - s * y, s * x + c * y], axis=-1)
    core.q[:, 0] += turn
    core.ee = forward_kinematics(core.links, core.q)
    for key in ("robot", "task"):
        np.testing.assert_allclose(core.obs()[key], before[key], atol=1e-6)


def test_get_suite_and_exports():
    assert get_suite("arms") is envs.ARMS and get_suite("grid") is envs.GRID and get_suite("arms6") is envs.ARMS6
    assert ARMS.robot_obs_dim("Arm2") == 3 and ARMS.robot_obs_dim("Arm4") == 9
    assert len(ARMS6.robots) >= 6 and len(ARMS6.tasks) >= 5
    assert ARMS6.robot_obs_dim("Arm3Accel") == 9 and ARMS6.robot_obs_dim("Arm5") == 12
    assert ARMS6.action_space("Arm5").shape == (5,)
    assert ARMS6.task_obs_dim("ReachRed") == 8 and ARMS6.task_obs_dim("Track") == 7


def test_envs_never_imports_torch():
    code = "import sys, envs; assert 'torch' not in sys.modules, 'envs imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_arms_refuse_non_finite_actions():
    env = gym.make("modrl/Arm2-ReachRed-v1")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be finite"):
        env.step(np.array([np.nan, 0.0], dtype=np.float32))


def test_ids_resolve_with_the_module_prefix_without_importing_envs():
    code = ("import gymnasium as gym\n"
            "env = gym.make('envs:modrl/Arm2-ReachRed-v1')\n"
            "env.reset(seed=0)\n"
            "gym.make('modrl/Grid-Ego-Goal-v0').reset(seed=0)  # registered by the first make\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_random_holdouts_keep_every_robot_and_task_trained(suite):
    pairs = suite.pairs()
    for fraction in (0.25, 0.5):
        for seed in range(20):
            held = suite.random_holdout(fraction, seed)
            assert len(held) == round(fraction * len(pairs)) and len(set(held)) == len(held)
            split = suite.splits(held)  # refuses a split that leaves a robot or task untrained
            assert set(split["train"]) | set(held) == set(pairs)
            assert held == suite.random_holdout(fraction, seed)  # same seed, same split
    assert len({tuple(suite.random_holdout(0.5, s)) for s in range(20)}) > 5  # seeds give other splits
    with pytest.raises(ValueError, match="can be held out"):
        suite.random_holdout(0.9, 0)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        suite.random_holdout(1.0, 0)
