"""The grid6 suite: six MiniGrid embodiments x seven missions, ids `modrl/Grid6-{Robot}-{Task}-v0`.

## Description
Grid's 7x7 room (`envs.grid`). Grid's four tasks (`Goal`, `Key`, `Door`, `Ball`) as they
are, and three missions: `Colour`, reach the goal of the colour named in the observation, of
two goals of different colours (the other one ends the episode); `Lava`, cross two lava
columns, each with one gap, to the goal (lava ends the episode); `Fetch`, pick up the key and
stand on the blue marked cell while carrying it. A robot is a `Body` (`ROBOTS`): grid's `Ego`,
`Cardinal` and `Mirrored`, and `Hopper` (forward moves two cells, `back` one), `SlowTurn`
(a turn takes two presses of the same turn key in a row) and `NoReverse` (Cardinal's
headings, but the one opposite its facing does nothing). Every robot moves through
`next_pose`, so the env (`BodyActions`) and the scripted controller (`scripted_action`)
share one model of each body.

## Action Space
`Discrete(len(ROBOTS[robot].actions))`: 5 for `Ego`, `Mirrored`, `SlowTurn`; 6 for the others.

## Observation Space
`Dict(robot=Box(0, 1, (4,) or (6,)), task=Box(0, 1, (149,) or (155,)))`, float32.
`robot`: the one-hot facing direction, then for `SlowTurn` the armed turn (left, right).
`task`: grid's encoding of the full grid and the agent's cell, then for `Colour` the
named colour, one-hot in MiniGrid's colour order (`COLOR_TO_IDX`).

## Rewards
MiniGrid's `1 - 0.9 * step_count / max_steps` on success, 0 otherwise.

## Starting State
Objects and the agent placed uniformly at random in free cells, facing a random way; for
`Lava` the agent starts in the first free column and the goal is in the last.

## Episode End
Terminates on success, and on failure: picking up the green ball (`Ball`), entering the
other goal (`Colour`) or lava (`Lava`). Truncates after `MAX_EPISODE_STEPS[task]`. `info`
has `is_success` and `distance` as in grid.

## Arguments
`robot`, `task`, `max_steps`, `render_mode`: see `make_grid6_env`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from minigrid.core.constants import COLOR_NAMES, COLOR_TO_IDX, DIR_TO_VEC, IDX_TO_COLOR, OBJECT_TO_IDX, STATE_TO_IDX
from minigrid.core.world_object import Floor, Goal, Key, Lava, WorldObj

from envs import grid
from envs.grid import ROBOT_OBS_DIM, TASK_OBS_DIM, GridTask, decode_task_obs

COLOUR_OBS_DIM = TASK_OBS_DIM + len(COLOR_NAMES)  # grid's task observation + the named colour
MAX_EPISODE_STEPS: dict[str, int] = {**grid.MAX_EPISODE_STEPS, "Colour": 50, "Lava": 60, "Fetch": 80}
LAVA_COLUMNS = (2, 4)


@dataclass(frozen=True)
class Body:
    """An embodiment: its discrete actions, by name, and how it moves.

    Names: `left` / `right` (turn), `forward`, `back` (one cell backwards, facing kept),
    `north` / `east` / `south` / `west` (face that heading, then one cell forward), `pickup`
    and `toggle` (MiniGrid's, on the cell ahead).
    """

    actions: tuple[str, ...]
    stride: int = 1
    """cells a `forward` moves: fewer when a wall or object is in the way, and it stops on a goal or lava"""
    slow_turns: bool = False
    """a turn needs two presses of the same turn key in a row: the first arms it, any other action disarms"""
    reverse: bool = True
    """whether the heading opposite the facing moves (False: pressing it does nothing)"""


ROBOTS: dict[str, Body] = {
    "Ego": Body(grid.ROBOTS["Ego"]),
    "Cardinal": Body(grid.ROBOTS["Cardinal"]),
    "Mirrored": Body(grid.ROBOTS["Mirrored"]),
    "Hopper": Body(("left", "right", "forward", "back", "pickup", "toggle"), stride=2),
    "SlowTurn": Body(grid.ROBOTS["Ego"], slow_turns=True),
    "NoReverse": Body(grid.ROBOTS["Cardinal"], reverse=False),
}

_TURN = {"left": -1, "right": 1}
_HEADING = {"east": 0, "south": 1, "west": 2, "north": 3}  # MiniGrid agent_dir values
_STEP = tuple((int(dx), int(dy)) for dx, dy in DIR_TO_VEC)
_INTERACT = {"pickup": 3, "toggle": 5}  # MiniGrid actions
_WAIT = 6  # MiniGrid's `done`: spends the step, changes nothing
FREE, STOP, BLOCK = range(3)  # a cell the agent can enter, enters and stops on (goal, lava), or cannot enter


class Pose(NamedTuple):
    """Where a body is: its cell, its facing (MiniGrid's agent_dir) and its armed turn (-1 left, 1 right, 0 none)."""

    x: int
    y: int
    facing: int
    armed: int = 0


def next_pose(body: Body, pose: Pose, name: str, cell: Callable[[int, int], int]) -> Pose:
    """The pose after the action called `name`; `cell(x, y)` is FREE, STOP or BLOCK."""
    if name in _TURN:
        turn = _TURN[name]
        if body.slow_turns and pose.armed != turn:
            return pose._replace(armed=turn)
        return Pose(pose.x, pose.y, (pose.facing + turn) % 4)
    if name in _HEADING:
        heading = _HEADING[name]
        if not body.reverse and heading == (pose.facing + 2) % 4:
            return pose._replace(armed=0)
        return _advance(Pose(pose.x, pose.y, heading), heading, 1, cell)
    if name == "forward":
        return _advance(pose._replace(armed=0), pose.facing, body.stride, cell)
    if name == "back":
        return _advance(pose._replace(armed=0), (pose.facing + 2) % 4, 1, cell)
    return pose._replace(armed=0)


def _advance(pose: Pose, direction: int, cells: int, cell: Callable[[int, int], int]) -> Pose:
    """Up to `cells` cells along `direction`, as repeated MiniGrid forwards that stop where an episode would end."""
    dx, dy = _STEP[direction]
    x, y = pose.x, pose.y
    for _ in range(cells):
        kind = cell(x + dx, y + dy)
        if kind == BLOCK:
            break
        x, y = x + dx, y + dy
        if kind == STOP:
            break
    return pose._replace(x=x, y=y)


def _object_kind(obj: WorldObj | None) -> int:
    """How a body may move into a cell holding `obj`, by MiniGrid's rules."""
    if obj is None:
        return FREE
    if not obj.can_overlap():
        return BLOCK
    return STOP if obj.type in ("goal", "lava") else FREE


def check_names(robot: str, task: str) -> None:
    """Raise ValueError listing valid names if robot or task is unknown."""
    if robot not in ROBOTS:
        raise ValueError(f"unknown grid6 robot {robot!r}; valid robots: {list(ROBOTS)}")
    if task not in TASKS:
        raise ValueError(f"unknown grid6 task {task!r}; valid tasks: {list(TASKS)}")


def action_space(robot: str) -> spaces.Discrete:
    """The robot's own discrete action space."""
    return spaces.Discrete(len(ROBOTS[robot].actions))


def robot_obs_dim(robot: str) -> int:
    """Size of the robot's `robot` observation: facing, and the armed turn for slow turners."""
    return ROBOT_OBS_DIM + 2 * ROBOTS[robot].slow_turns


def task_obs_dim(task: str) -> int:
    """Size of the task's `task` observation."""
    return COLOUR_OBS_DIM if task == "Colour" else TASK_OBS_DIM


class BodyActions(gym.Wrapper):
    """A grid6 robot: moves the agent as its `Body` says and adds the body's own state to `robot`."""

    def __init__(self, env: GridTask, robot: str):
        super().__init__(env)
        self.robot = robot
        self.body = ROBOTS[robot]
        self.action_space = action_space(robot)
        self.observation_space = spaces.Dict({
            "robot": spaces.Box(0.0, 1.0, (robot_obs_dim(robot),), np.float32),
            "task": env.observation_space["task"],
        })
        self._armed = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._armed = 0
        return self._observe(obs), info

    def step(self, action: Any):
        task = self.env.unwrapped
        name = self.body.actions[int(action)]
        pose = next_pose(self.body, Pose(*map(int, task.agent_pos), task.agent_dir, self._armed), name,
                         lambda x, y: _object_kind(task.grid.get(x, y)))
        task.agent_pos, task.agent_dir, self._armed = (pose.x, pose.y), pose.facing, pose.armed
        obs, reward, terminated, truncated, info = self.env.step(_INTERACT.get(name, _WAIT))
        return self._observe(obs), reward, terminated, truncated, info

    def _observe(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.body.slow_turns:
            return obs
        armed = np.array([self._armed == -1, self._armed == 1], dtype=np.float32)
        return {"robot": np.concatenate([obs["robot"], armed]), "task": obs["task"]}


class ColourTask(GridTask):
    """Reach the goal of the named colour; the other goal ends the episode. See the module docstring."""

    def __init__(self, max_steps: int = 50, render_mode: str | None = None):
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        self.observation_space["task"] = spaces.Box(0.0, 1.0, (COLOUR_OBS_DIM,), np.float32)

    def _gen_grid(self, width: int, height: int) -> None:
        self._room(width, height)
        self.colour, other = self._rand_subset(COLOR_NAMES, 2)
        self.goal_pos = self.place_obj(Goal(self.colour))
        self.other_pos = self.place_obj(Goal(other))
        self.place_agent()

    def gen_obs(self) -> dict[str, np.ndarray]:
        obs = super().gen_obs()
        named = np.zeros(len(COLOR_NAMES), dtype=np.float32)
        named[COLOR_TO_IDX[self.colour]] = 1.0
        obs["task"] = np.concatenate([obs["task"], named])
        return obs

    def _succeeded(self) -> bool:
        return tuple(self.agent_pos) == tuple(self.goal_pos)

    def _failed(self) -> bool:
        return tuple(self.agent_pos) == tuple(self.other_pos)

    def _target(self) -> tuple[int, int]:
        return self.goal_pos


class LavaTask(GridTask):
    """Cross two lava columns, each with one gap, to the goal; lava ends the episode. See the module docstring."""

    def _gen_grid(self, width: int, height: int) -> None:
        self._room(width, height)
        for x in LAVA_COLUMNS:
            gap = self._rand_int(1, height - 1)
            for y in range(1, height - 1):
                if y != gap:
                    self.put_obj(Lava(), x, y)
        self.goal_pos = self.place_obj(Goal(), top=(width - 2, 1), size=(1, height - 2))
        self.place_agent(top=(1, 1), size=(1, height - 2))

    def _succeeded(self) -> bool:
        return tuple(self.agent_pos) == tuple(self.goal_pos)

    def _failed(self) -> bool:
        cell = self.grid.get(*self.agent_pos)
        return cell is not None and cell.type == "lava"

    def _target(self) -> tuple[int, int]:
        return self.goal_pos


class FetchTask(GridTask):
    """Pick up the key and stand on the blue marked cell holding it. See the module docstring."""

    def _gen_grid(self, width: int, height: int) -> None:
        self._room(width, height)
        self.mark_pos = self.place_obj(Floor("blue"))
        self.key_pos = self.place_obj(Key("yellow"))
        self.place_agent()

    def _succeeded(self) -> bool:
        return isinstance(self.carrying, Key) and tuple(self.agent_pos) == tuple(self.mark_pos)

    def _target(self) -> tuple[int, int]:
        return self.mark_pos if self.carrying else self.key_pos


TASKS: dict[str, type[GridTask]] = {**grid.TASKS, "Colour": ColourTask, "Lava": LavaTask, "Fetch": FetchTask}


def make_grid6_env(robot: str = "Ego", task: str = "Goal", max_steps: int | None = None,
                   render_mode: str | None = None) -> gym.Env:
    """The (robot, task) env: a task env inside its robot's `BodyActions`."""
    check_names(robot, task)
    env = TASKS[task](max_steps=max_steps or MAX_EPISODE_STEPS[task], render_mode=render_mode)
    return BodyActions(env, robot)


def scripted_action(robot: str, task: str, obs: dict[str, np.ndarray]) -> int:
    """An action toward solving (robot, task), from the observation alone: a breadth-first search over the
    body's poses, in its own model (`next_pose`), for the shortest way to the pose the task asks for next."""
    check_names(robot, task)
    body = ROBOTS[robot]
    cells, (x, y) = decode_task_obs(obs["task"])
    facing = int(np.argmax(obs["robot"][:ROBOT_OBS_DIM]))
    armed = int(obs["robot"][ROBOT_OBS_DIM + 1] - obs["robot"][ROBOT_OBS_DIM]) if body.slow_turns else 0
    named = IDX_TO_COLOR[int(np.argmax(obs["task"][TASK_OBS_DIM:]))] if task == "Colour" else None
    mode, target = _subgoal(task, cells, named)
    start = Pose(x, y, facing, armed)
    if mode == "face" and _ahead(start) == target:
        door = cells[target][0] == OBJECT_TO_IDX["door"]
        return body.actions.index("toggle" if door else "pickup")
    arrived = (lambda p: _ahead(p) == target) if mode == "face" else (lambda p: (p.x, p.y) == target)
    ends = np.isin(cells[..., 0], (OBJECT_TO_IDX["lava"], OBJECT_TO_IDX["goal"]))
    deadly = {(int(cx), int(cy)) for cx, cy in np.argwhere(ends)} - {target}
    return _first_move(body, start, arrived, lambda cx, cy: _cell_kind(cells[cx, cy]), deadly)


def _subgoal(task: str, cells: np.ndarray, named: str | None) -> tuple[str, tuple[int, int] | None]:
    """What the task asks for next: ("stand", cell) to stand on, or ("face", cell) to pick up or toggle."""
    def find(kind: str, colour: str | None = None, state: str | None = None) -> tuple[int, int] | None:
        match = cells[..., 0] == OBJECT_TO_IDX[kind]
        if colour is not None:
            match &= cells[..., 1] == COLOR_TO_IDX[colour]
        if state is not None:
            match &= cells[..., 2] == STATE_TO_IDX[state]
        found = np.argwhere(match)
        return (int(found[0][0]), int(found[0][1])) if len(found) else None

    if task == "Key":
        return "face", find("key")
    if task == "Ball":
        return "face", find("ball", "red")
    if task == "Door" and (door := find("door", state="closed")):
        return "face", door
    if task == "Fetch":
        key = find("key")
        return ("face", key) if key else ("stand", find("floor"))
    return "stand", find("goal", named)


def _ahead(pose: Pose) -> tuple[int, int]:
    dx, dy = _STEP[pose.facing]
    return pose.x + dx, pose.y + dy


def _cell_kind(cell: np.ndarray) -> int:
    """`_object_kind` of an observed (type, colour, state) cell; the agent's own cell is free."""
    kind, _, state = cell
    if kind in (OBJECT_TO_IDX["goal"], OBJECT_TO_IDX["lava"]):
        return STOP
    if kind in (OBJECT_TO_IDX["empty"], OBJECT_TO_IDX["floor"], OBJECT_TO_IDX["agent"]):
        return FREE
    return FREE if kind == OBJECT_TO_IDX["door"] and state == STATE_TO_IDX["open"] else BLOCK


def _first_move(body: Body, start: Pose, arrived: Callable[[Pose], bool], cell: Callable[[int, int], int],
                deadly: set[tuple[int, int]]) -> int:
    """The first action of a shortest sequence of moves from `start` to a pose where `arrived` holds,
    never entering a `deadly` cell (the first move action when there is none)."""
    moves = [i for i, name in enumerate(body.actions) if name not in _INTERACT]
    first: dict[Pose, int | None] = {start: None}
    queue = deque([start])
    while queue:
        pose = queue.popleft()
        for i in moves:
            after = next_pose(body, pose, body.actions[i], cell)
            if after in first or (after.x, after.y) in deadly:
                continue
            first[after] = i if first[pose] is None else first[pose]
            if arrived(after):
                return first[after]
            queue.append(after)
    return moves[0]
