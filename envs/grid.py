"""MiniGrid robots x tasks, after Mendez et al. (2022).

A task is a `MiniGridEnv` subclass that overrides `_gen_grid` (and says what
success and the current target are); a robot is an action wrapper that
changes what the agent's actions mean. Observations are split into `robot`
(the facing direction, one-hot) and `task` (the full grid, symbolically
encoded, and the agent's cell), so the task part means the same for every
robot.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Ball, Door, Goal, Key
from minigrid.minigrid_env import MiniGridEnv

SIZE = 7  # grid side, walls included (5x5 free interior)
ROBOT_OBS_DIM = 4  # one-hot facing direction
TASK_OBS_DIM = SIZE * SIZE * 3 + 2  # (type, colour, state) per cell + agent xy
MAX_EPISODE_STEPS: dict[str, int] = {"Goal": 50, "Key": 50, "Ball": 50, "Door": 80}

# What each robot's discrete actions do, in order. Headings are absolute moves
# (turn to face that way, then step forward); the rest are MiniGrid actions.
ROBOTS: dict[str, tuple[str, ...]] = {
    "Ego": ("left", "right", "forward", "pickup", "toggle"),
    "Cardinal": ("north", "east", "south", "west", "pickup", "toggle"),
    "Mirrored": ("toggle", "pickup", "forward", "right", "left"),
}
_MINIGRID_ACTION = {"left": 0, "right": 1, "forward": 2, "pickup": 3, "toggle": 5}
_HEADING = {"east": 0, "south": 1, "west": 2, "north": 3}  # MiniGrid agent_dir values
_CELL_SCALE = np.array(
    [max(OBJECT_TO_IDX.values()), max(COLOR_TO_IDX.values()), max(STATE_TO_IDX.values())],
    dtype=np.float32,
)


def check_names(robot: str, task: str) -> None:
    """Raise ValueError listing valid names if robot or task is unknown."""
    if robot not in ROBOTS:
        raise ValueError(f"unknown grid robot {robot!r}; valid robots: {sorted(ROBOTS)}")
    if task not in TASKS:
        raise ValueError(f"unknown grid task {task!r}; valid tasks: {sorted(TASKS)}")


def action_space(robot: str) -> spaces.Discrete:
    """The robot's own discrete action space."""
    return spaces.Discrete(len(ROBOTS[robot]))


class RobotActions(gym.ActionWrapper):
    """An embodiment: maps the robot's actions onto MiniGrid's.

    `Ego`: turn left / right, forward, pickup, toggle. `Cardinal`: move
    north / east / south / west directly (turn to face it and step), pickup,
    toggle. `Mirrored`: Ego's actions in reverse order, so the turn keys and
    everything else sit at other indices.
    """

    def __init__(self, env: gym.Env, robot: str):
        super().__init__(env)
        self.robot = robot
        self._names = ROBOTS[robot]
        self.action_space = action_space(robot)

    def action(self, action: Any) -> int:
        name = self._names[int(action)]
        if name in _HEADING:
            self.env.unwrapped.agent_dir = _HEADING[name]
            return _MINIGRID_ACTION["forward"]
        return _MINIGRID_ACTION[name]


class GridTask(MiniGridEnv):
    """Base of the grid tasks: Dict(robot, task) observations and success info.

    ## Description
    A 7x7 MiniGrid room (5x5 free interior). `Goal`: reach the green goal
    square. `Key`: pick up the yellow key. `Ball`: pick up the red ball, not
    the green one. `Door`: a wall splits the room; open the closed (unlocked)
    yellow door and reach the goal on the other side.

    ## Action Space
    On the unwrapped env, MiniGrid's `Discrete(7)`. The registered ids wrap
    it in `RobotActions`: `Ego` and `Mirrored` have `Discrete(5)`,
    `Cardinal` has `Discrete(6)` (see `ROBOTS`).

    ## Observation Space
    `Dict(robot=Box(0, 1, (4,)), task=Box(0, 1, (149,)))`, float32.
    `robot`: one-hot facing direction (east, south, west, north).
    `task`: the full grid's (object type, colour, state) per cell, each
    divided by its largest index, with the agent's cell marked as an agent
    (colour and state 0, so it does not depend on the robot), then the
    agent's (x, y) / 6.

    ## Rewards
    MiniGrid's `1 - 0.9 * step_count / max_steps` on success, 0 otherwise.

    ## Starting State
    Objects and the agent (position and direction) placed uniformly at
    random in free cells (for `Door`: agent left of the wall, goal right).

    ## Episode End
    Terminates on success (and in `Ball` on picking the wrong ball).
    Truncates after `max_steps`: 50 (80 for `Door`). `info` has
    `is_success` (bool) and `distance` (Manhattan distance from the agent to
    the current target, the door while it is closed, divided by 7) at every
    step.

    ## Arguments
    `max_steps`: episode length; `render_mode`: as MiniGrid. Registered as
    `modrl/Grid-{Robot}-{Task}-v0` through `make_grid_env`.
    """

    def __init__(self, max_steps: int = 50, render_mode: str | None = None):
        super().__init__(
            mission_space=MissionSpace(mission_func=self._gen_mission),
            grid_size=SIZE,
            max_steps=max_steps,
            see_through_walls=True,
            render_mode=render_mode,
        )
        self.observation_space = spaces.Dict(
            {
                "robot": spaces.Box(0.0, 1.0, (ROBOT_OBS_DIM,), np.float32),
                "task": spaces.Box(0.0, 1.0, (TASK_OBS_DIM,), np.float32),
            }
        )

    @staticmethod
    def _gen_mission() -> str:
        return "complete the task"

    def _room(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)
        self.grid.wall_rect(0, 0, width, height)

    def _succeeded(self) -> bool:
        """Whether the task is done; subclasses override."""
        raise NotImplementedError

    def _failed(self) -> bool:
        return False

    def _target(self) -> tuple[int, int]:
        """The cell the agent should go to now; subclasses override."""
        raise NotImplementedError

    def _info(self, success: bool) -> dict[str, Any]:
        tx, ty = self._target()
        ax, ay = self.agent_pos
        return {"is_success": success, "distance": (abs(tx - ax) + abs(ty - ay)) / SIZE}

    def gen_obs(self) -> dict[str, np.ndarray]:
        """The full grid instead of MiniGrid's egocentric view (and cheaper)."""
        cells = self.grid.encode()
        x, y = self.agent_pos
        cells[x, y] = (OBJECT_TO_IDX["agent"], 0, 0)
        task = np.empty(TASK_OBS_DIM, dtype=np.float32)
        task[:-2] = (cells / _CELL_SCALE).ravel()
        task[-2:] = (x / (SIZE - 1), y / (SIZE - 1))
        robot = np.zeros(ROBOT_OBS_DIM, dtype=np.float32)
        robot[self.agent_dir] = 1.0
        return {"robot": robot, "task": task}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, _ = super().reset(seed=seed, options=options)
        return obs, self._info(False)

    def step(self, action: Any):
        obs, reward, terminated, truncated, _ = super().step(action)
        success = self._succeeded()
        if success and not terminated:
            reward, terminated = self._reward(), True
        terminated = terminated or self._failed()
        return obs, float(reward), terminated, truncated, self._info(success)


class GoalTask(GridTask):
    """Reach the goal square. See `GridTask`."""

    def _gen_grid(self, width: int, height: int) -> None:
        self._room(width, height)
        self.goal_pos = self.place_obj(Goal())
        self.place_agent()

    def _succeeded(self) -> bool:
        return tuple(self.agent_pos) == tuple(self.goal_pos)

    def _target(self) -> tuple[int, int]:
        return self.goal_pos


class KeyTask(GridTask):
    """Pick up the key. See `GridTask`."""

    def _gen_grid(self, width: int, height: int) -> None:
        self._room(width, height)
        self.key_pos = self.place_obj(Key("yellow"))
        self.place_agent()

    def _succeeded(self) -> bool:
        return isinstance(self.carrying, Key)

    def _target(self) -> tuple[int, int]:
        return self.agent_pos if self.carrying else self.key_pos


class BallTask(GridTask):
    """Pick up the red ball; picking up the green one ends the episode. See `GridTask`."""

    def _gen_grid(self, width: int, height: int) -> None:
        self._room(width, height)
        self.ball_pos = self.place_obj(Ball("red"))
        self.place_obj(Ball("green"))
        self.place_agent()

    def _succeeded(self) -> bool:
        return isinstance(self.carrying, Ball) and self.carrying.color == "red"

    def _failed(self) -> bool:
        return isinstance(self.carrying, Ball) and self.carrying.color != "red"

    def _target(self) -> tuple[int, int]:
        return self.agent_pos if self.carrying else self.ball_pos


class DoorTask(GridTask):
    """Open the door in the dividing wall, then reach the goal. See `GridTask`."""

    def _gen_grid(self, width: int, height: int) -> None:
        self._room(width, height)
        wall_x = width // 2
        self.grid.vert_wall(wall_x, 0)
        self.door_pos = (wall_x, self._rand_int(1, height - 1))
        self.door = Door("yellow", is_open=False, is_locked=False)
        self.grid.set(*self.door_pos, self.door)
        self.goal_pos = self.place_obj(Goal(), top=(wall_x + 1, 1), size=(width - wall_x - 2, height - 2))
        self.place_agent(top=(1, 1), size=(wall_x - 1, height - 2))

    def _succeeded(self) -> bool:
        return tuple(self.agent_pos) == tuple(self.goal_pos)

    def _target(self) -> tuple[int, int]:
        return self.goal_pos if self.door.is_open else self.door_pos


TASKS: dict[str, type[GridTask]] = {"Goal": GoalTask, "Key": KeyTask, "Door": DoorTask, "Ball": BallTask}


def decode_task_obs(task: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The grid's (type, colour, state) indices per cell, indexed [x, y], and the agent's cell,
    read back from a `task` observation (the inverse of `GridTask.gen_obs`)."""
    cells = np.rint(task[: SIZE * SIZE * 3].reshape(SIZE, SIZE, 3) * _CELL_SCALE).astype(np.int64)
    x, y = np.rint(task[SIZE * SIZE * 3: SIZE * SIZE * 3 + 2] * (SIZE - 1)).astype(np.int64)
    return cells, (int(x), int(y))


def make_grid_env(robot: str = "Ego", task: str = "Goal", max_steps: int | None = None,
                  render_mode: str | None = None) -> gym.Env:
    """The (robot, task) env: a task env inside its robot's action wrapper."""
    check_names(robot, task)
    env = TASKS[task](max_steps=max_steps or MAX_EPISODE_STEPS[task], render_mode=render_mode)
    return RobotActions(env, robot)
