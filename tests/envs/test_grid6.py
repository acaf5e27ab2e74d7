"""The grid6 suite: every pair passes the env checkers and the scripted controller, its robots move as they
say, its missions end as they say, and adding it left the grid suite as it was."""

from __future__ import annotations

import hashlib
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from minigrid.core.constants import COLOR_TO_IDX
from minigrid.core.grid import Grid
from minigrid.core.world_object import Floor, Goal, Key, Lava

from envs import GRID, GRID6, get_suite
from envs.grid import SIZE, TASK_OBS_DIM
from envs.grid6 import LAVA_COLUMNS, ROBOTS, make_grid6_env, scripted_action

IDS = [GRID6.env_id(r, t) for r, t in GRID6.pairs()]
EAST, SOUTH, WEST, NORTH = range(4)


def _equal(a, b) -> bool:
    """Deep equality of observations / infos made of dicts and arrays."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b)


def _scene(robot: str, task: str, pos: tuple[int, int], facing: int, objects: dict[tuple[int, int], object]):
    """A grid6 env whose room is empty but for `objects`, the agent at `pos` facing `facing`; the task's
    goal is the first `Goal` among them."""
    env = make_grid6_env(robot, task)
    env.reset(seed=0)
    inner = env.unwrapped
    inner.grid = Grid(SIZE, SIZE)
    inner.grid.wall_rect(0, 0, SIZE, SIZE)
    for (x, y), obj in objects.items():
        inner.put_obj(obj, x, y)
    inner.goal_pos = next((p for p, o in objects.items() if isinstance(o, Goal)), (SIZE - 2, SIZE - 2))
    inner.agent_pos, inner.agent_dir = pos, facing
    return env


def _press(env, name: str):
    return env.step(ROBOTS[env.robot].actions.index(name))


def _pose(env) -> tuple[tuple[int, int], int]:
    return tuple(int(v) for v in env.unwrapped.agent_pos), env.unwrapped.agent_dir


def _success_rate(env_id: str, controller: str, task: str, episodes: int) -> float:
    env = gym.make(env_id)
    wins = 0
    for seed in range(episodes):
        obs, info = env.reset(seed=seed)
        terminated = truncated = False
        while not (terminated or truncated):
            obs, _, terminated, truncated, info = env.step(scripted_action(controller, task, obs))
        wins += info["is_success"]
    return wins / episodes


def test_suite_shape_and_ids():
    assert get_suite("grid6") is GRID6
    assert GRID6.robots == ("Ego", "Cardinal", "Mirrored", "Hopper", "SlowTurn", "NoReverse")
    assert GRID6.tasks == ("Goal", "Key", "Door", "Ball", "Colour", "Lava", "Fetch")
    assert all(env_id in gym.registry for env_id in IDS) and len(set(IDS)) == 42
    assert GRID6.env_id("Hopper", "Lava") == "modrl/Grid6-Hopper-Lava-v0"
    assert [GRID6.robot_obs_dim(r) for r in GRID6.robots] == [4, 4, 4, 4, 6, 4]
    assert [GRID6.task_obs_dim(t) for t in GRID6.tasks] == [149] * 4 + [155, 149, 149]
    assert [GRID6.action_space(r).n for r in GRID6.robots] == [5, 6, 5, 6, 5, 6]
    limits = {t: gym.spec(GRID6.env_id("Ego", t)).max_episode_steps for t in GRID6.tasks}
    assert limits == {"Goal": 50, "Key": 50, "Door": 80, "Ball": 50, "Colour": 50, "Lava": 60, "Fetch": 80}


GRID_FINGERPRINTS = {  # sha256 of 40 seeded random steps, measured before grid6 existed
    "modrl/Grid-Ego-Goal-v0": "218d59f84e98bbeb", "modrl/Grid-Cardinal-Door-v0": "3b030f40f8d909f3",
    "modrl/Grid-Mirrored-Ball-v0": "d1587a08c5276c2b", "modrl/Grid-Ego-Key-v0": "38317929c5b8fdd9",
}


def _fingerprint(env_id: str) -> str:
    env = gym.make(env_id)
    env.action_space.seed(0)
    digest = hashlib.sha256()
    obs, _ = env.reset(seed=0)
    for _ in range(40):
        digest.update(obs["robot"].tobytes())
        digest.update(obs["task"].tobytes())
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        digest.update(np.float64(reward).tobytes())
        digest.update(bytes([terminated, truncated, info["is_success"]]))
        if terminated or truncated:
            obs, _ = env.reset()
    return digest.hexdigest()[:16]


def test_grid_suite_unchanged():
    assert GRID.robots == ("Ego", "Cardinal", "Mirrored") and GRID.tasks == ("Goal", "Key", "Door", "Ball")
    assert GRID.id_format == "modrl/Grid-{robot}-{task}-v0"
    assert {GRID.robot_obs_dim(r) for r in GRID.robots} == {4} and {GRID.task_obs_dim(t) for t in GRID.tasks} == {149}
    assert [GRID.action_space(r).n for r in GRID.robots] == [5, 6, 5]
    assert not set(IDS) & {GRID.env_id(r, t) for r, t in GRID.pairs()}
    for env_id, expected in GRID_FINGERPRINTS.items():
        assert _fingerprint(env_id) == expected, env_id


@pytest.mark.parametrize("robot", GRID.robots)
@pytest.mark.parametrize("task", GRID.tasks)
def test_grid_robots_and_tasks_are_the_same_in_grid6(robot, task):
    """grid's pairs behave in grid6 step for step as in grid (same observations, rewards and ends)."""
    old, new = gym.make(GRID.env_id(robot, task)), gym.make(GRID6.env_id(robot, task))
    actions = np.random.default_rng(0).integers(0, old.action_space.n, 150)
    assert _equal(old.reset(seed=4), new.reset(seed=4))
    for action in actions:
        a, b = old.step(action), new.step(action)
        assert _equal(a, b)
        if a[2] or a[3]:
            assert _equal(old.reset(), new.reset())


@pytest.mark.parametrize("robot,task", GRID6.pairs(), ids=IDS)
def test_check_env_without_a_warning_on_the_robot_wrapper_too(robot, task):
    """Spaces, determinism, pickling and truncation of every grid6 pair: tests/envs/test_envs.py."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any complaint fails, but that the robot is a wrapper
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        check_env(make_grid6_env(robot, task), skip_render_check=True)


@pytest.mark.parametrize("robot,task", GRID6.pairs(), ids=IDS)
def test_scripted_controller_solves_every_pair(robot, task):
    rate = _success_rate(GRID6.env_id(robot, task), robot, task, episodes=50)
    assert rate >= 0.9, f"{robot}-{task}: scripted success {rate:.2f}"


@pytest.mark.parametrize("robot,task", GRID.pairs(), ids=[GRID.env_id(r, t) for r, t in GRID.pairs()])
def test_scripted_controller_solves_grid_pairs_too(robot, task):
    assert _success_rate(GRID.env_id(robot, task), robot, task, episodes=20) >= 0.9


def test_hopper_moves_two_cells_one_before_a_wall_or_object_and_backs_one():
    env = _scene("Hopper", "Goal", (1, 3), EAST, {(5, 5): Goal()})
    _press(env, "forward")
    assert _pose(env) == ((3, 3), EAST)
    _press(env, "forward")
    assert _pose(env) == ((5, 3), EAST)  # one cell: the wall is next
    _press(env, "forward")
    assert _pose(env) == ((5, 3), EAST)
    _press(env, "back")
    assert _pose(env) == ((4, 3), EAST)  # backwards, facing kept
    env = _scene("Hopper", "Goal", (1, 3), EAST, {(3, 3): Key("yellow"), (5, 5): Goal()})
    _press(env, "forward")
    assert _pose(env) == ((2, 3), EAST)  # stopped by the key


def test_hopper_stops_on_a_goal_and_on_lava():
    env = _scene("Hopper", "Goal", (1, 3), EAST, {(2, 3): Goal()})
    _, reward, terminated, _, info = _press(env, "forward")
    assert _pose(env) == ((2, 3), EAST) and terminated and info["is_success"] and reward > 0
    env = _scene("Hopper", "Lava", (1, 3), EAST, {(2, 3): Lava(), (5, 5): Goal()})
    _, reward, terminated, _, info = _press(env, "forward")
    assert _pose(env) == ((2, 3), EAST) and terminated and not info["is_success"] and reward == 0.0


def test_slow_turn_needs_two_presses_in_a_row_and_observes_the_armed_turn():
    env = _scene("SlowTurn", "Goal", (3, 3), EAST, {(5, 5): Goal()})
    obs, *_ = _press(env, "left")
    assert _pose(env) == ((3, 3), EAST) and obs["robot"][4:].tolist() == [1.0, 0.0]
    obs, *_ = _press(env, "left")
    assert _pose(env) == ((3, 3), NORTH) and obs["robot"][4:].tolist() == [0.0, 0.0]
    assert obs["robot"][:4].tolist() == [0.0, 0.0, 0.0, 1.0]
    _press(env, "right")
    obs, *_ = _press(env, "left")  # the other key re-arms instead of turning
    assert _pose(env) == ((3, 3), NORTH) and obs["robot"][4:].tolist() == [1.0, 0.0]
    obs, *_ = _press(env, "forward")  # any other action disarms
    assert _pose(env) == ((3, 2), NORTH) and obs["robot"][4:].tolist() == [0.0, 0.0]
    _press(env, "left")
    assert _pose(env) == ((3, 2), NORTH)
    assert env.reset(seed=0)[0]["robot"][4:].tolist() == [0.0, 0.0]


def test_no_reverse_ignores_the_heading_behind_it():
    objects = {(5, 5): Goal()}
    env = _scene("NoReverse", "Goal", (3, 3), EAST, objects)
    _press(env, "west")
    assert _pose(env) == ((3, 3), EAST)
    _press(env, "north")
    assert _pose(env) == ((3, 2), NORTH)
    _press(env, "east")
    assert _pose(env) == ((4, 2), EAST)
    cardinal = _scene("Cardinal", "Goal", (3, 3), EAST, objects)
    _press(cardinal, "west")
    assert _pose(cardinal) == ((2, 3), WEST)


def test_cardinal_controller_does_worse_on_no_reverse():
    """The missing reverse matters: Cardinal's controller gets stuck on NoReverse where NoReverse's own does not."""
    env_id = GRID6.env_id("NoReverse", "Fetch")
    own, other = (_success_rate(env_id, controller, "Fetch", episodes=30) for controller in ("NoReverse", "Cardinal"))
    assert own >= 0.9 and other <= own - 0.3, (own, other)


def test_colour_names_one_of_two_goals_and_the_other_fails():
    env = make_grid6_env("Cardinal", "Colour")
    named = set()
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        inner = env.unwrapped
        target, other = inner.grid.get(*inner.goal_pos), inner.grid.get(*inner.other_pos)
        assert target.type == other.type == "goal" and target.color != other.color
        assert obs["task"][TASK_OBS_DIM:].tolist() == [float(i == COLOR_TO_IDX[target.color]) for i in range(6)]
        named.add(target.color)
    assert len(named) >= 4
    env = _scene("Cardinal", "Colour", (1, 3), EAST, {(4, 4): Goal("red"), (2, 3): Goal("blue")})
    env.unwrapped.other_pos = (2, 3)
    _, reward, terminated, _, info = _press(env, "east")
    assert terminated and not info["is_success"] and reward == 0.0


def test_lava_layout_crosses_two_columns_with_one_gap_each():
    env = make_grid6_env("Ego", "Lava")
    for seed in range(10):
        env.reset(seed=seed)
        inner = env.unwrapped
        for x in LAVA_COLUMNS:
            kinds = [getattr(inner.grid.get(x, y), "type", None) for y in range(1, SIZE - 1)]
            assert kinds.count("lava") == SIZE - 3 and kinds.count(None) == 1
        assert inner.agent_pos[0] == 1 and inner.goal_pos[0] == SIZE - 2


def test_fetch_needs_the_key_on_the_mark():
    env = _scene("Ego", "Fetch", (2, 3), EAST, {(3, 3): Key("yellow")})
    env.unwrapped.put_obj(Floor("blue"), 1, 3)
    env.unwrapped.mark_pos = (1, 3)
    _press(env, "pickup")
    _, _, terminated, _, _ = _press(env, "left")
    assert not terminated and env.unwrapped.carrying is not None
    _press(env, "left")
    _, reward, terminated, _, info = _press(env, "forward")
    assert terminated and info["is_success"] and reward > 0
    env = _scene("Ego", "Fetch", (2, 3), WEST, {(4, 4): Key("yellow")})
    env.unwrapped.put_obj(Floor("blue"), 1, 3)
    env.unwrapped.mark_pos = (1, 3)
    _, _, terminated, _, info = _press(env, "forward")  # on the mark without the key
    assert _pose(env) == ((1, 3), WEST) and not terminated and not info["is_success"]


def test_vector_env_autoresets_same_step():
    vec = GRID6.make("SlowTurn", "Colour", 4, seed=0)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    assert vec.single_observation_space["robot"].shape == (6,) and vec.single_observation_space["task"].shape == (155,)
    vec.reset()
    for _ in range(200):
        _, _, terminated, truncated, info = vec.step(vec.action_space.sample())
        if (terminated | truncated).any():
            assert "is_success" in info["final_info"]
            return
    pytest.fail("no episode ended in 200 steps")


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="grid6"):
        get_suite("grid7")
    with pytest.raises(ValueError, match="Hopper"):
        GRID6.check("Wheel", "Goal")
    with pytest.raises(ValueError, match="Fetch"):
        GRID6.env_id("Ego", "Swim")
    with pytest.raises(ValueError, match="NoReverse"):
        make_grid6_env(robot="Legs")
    with pytest.raises(ValueError, match="Colour"):
        scripted_action("Ego", "Swim", {})
    with pytest.raises(ValueError, match=r"valid robots: \['Ego', 'Cardinal', 'Mirrored'\]"):
        GRID.check("Hopper", "Goal")  # a grid6 robot, not a grid one
