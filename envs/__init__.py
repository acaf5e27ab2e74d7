"""Robot x task gymnasium environments. Importing this registers every id.

Two suites: `ARMS` (planar arms, continuous control, after Devin et al.,
2017) and `GRID` (MiniGrid embodiments, after Mendez et al., 2022). Ids are
`modrl/{Robot}-{Task}-v1` and `modrl/Grid-{Robot}-{Task}-v0`. Never imports
torch.
"""

from __future__ import annotations

import gymnasium as gym

from envs import arms, grid
from envs.arms import ArmEnv, ArmVectorEnv, scripted_action
from envs.suite import Suite

ARMS = Suite(
    "arms",
    robot_obs_dims={r: arms.robot_obs_dim(r) for r in arms.ROBOTS},
    task_obs_dims={t: arms.TASK_OBS_DIM for t in arms.TASKS},
    action_spaces={r: arms.action_space(r) for r in arms.ROBOTS},
    id_format="modrl/{robot}-{task}-v1",  # v1: base-frame observations,
)
GRID = Suite(
    "grid",
    robot_obs_dims={r: grid.ROBOT_OBS_DIM for r in grid.ROBOTS},
    task_obs_dims={t: grid.TASK_OBS_DIM for t in grid.TASKS},
    action_spaces={r: grid.action_space(r) for r in grid.ROBOTS},
    id_format="modrl/Grid-{robot}-{task}-v0",
    make_vec_kwargs={
        "vectorization_mode": "sync",
        "vector_kwargs": {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    },
)
SUITES: dict[str, Suite] = {"arms": ARMS, "grid": GRID}


def get_suite(name: str) -> Suite:
    """The suite called `name` ("arms" or "grid")."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid suites: {sorted(SUITES)}")
    return SUITES[name]


def _register() -> None:
    for robot, task in ARMS.pairs():
        env_id = ARMS.env_id(robot, task)
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="envs.arms:ArmEnv",
                vector_entry_point="envs.arms:ArmVectorEnv",
                max_episode_steps=arms.MAX_EPISODE_STEPS[task],
                kwargs={"robot": robot, "task": task},
            )
    for robot, task in GRID.pairs():
        env_id = GRID.env_id(robot, task)
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="envs.grid:make_grid_env",
                max_episode_steps=grid.MAX_EPISODE_STEPS[task],
                kwargs={"robot": robot, "task": task, "max_steps": grid.MAX_EPISODE_STEPS[task]},
            )


_register()

__all__ = ["ARMS", "GRID", "SUITES", "Suite", "get_suite", "ArmEnv", "ArmVectorEnv", "scripted_action"]
