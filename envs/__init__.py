"""Robot x task gymnasium environments. Importing this registers every id.

Four suites: `ARMS` (planar arms, continuous control, after Devin et al.,
2017), `ARMS6` (six arms that differ in more than their links x six
end-effector tasks), `GRID` (MiniGrid embodiments, after Mendez et al.,
2022) and `GRID6` (six MiniGrid bodies that differ in how they move x seven
missions). Ids are `modrl/{Robot}-{Task}-v1`, `modrl/Arms6-{Robot}-{Task}-v0`,
`modrl/Grid-{Robot}-{Task}-v0` and `modrl/Grid6-{Robot}-{Task}-v0`. Never
imports torch.
"""

from __future__ import annotations

import gymnasium as gym

from envs import arms, grid, grid6
from envs.arms import ArmEnv, Arms6Env, Arms6VectorEnv, ArmVectorEnv, scripted_action
from envs.suite import Suite

ARMS = Suite(
    "arms",
    robot_obs_dims={r: arms.robot_obs_dim(r) for r in arms.ROBOTS},
    task_obs_dims={t: arms.TASK_OBS_DIM for t in arms.TASKS},
    action_spaces={r: arms.action_space(r) for r in arms.ROBOTS},
    id_format="modrl/{robot}-{task}-v1",  # v1: base-frame observations,
    step_info=("ee_move",),
)
ARMS6 = Suite(
    "arms6",
    robot_obs_dims={r: arms.robot_obs_dim(r, "arms6") for r in arms.ARMS6_ROBOTS},
    task_obs_dims={t: arms.task_obs_dim(t, "arms6") for t in arms.ARMS6_TASKS},
    action_spaces={r: arms.action_space(r, "arms6") for r in arms.ARMS6_ROBOTS},
    id_format="modrl/Arms6-{robot}-{task}-v0",  # its own name: a v2 of the arms ids would mark every v1 id out of date
    step_info=("ee_move",),
)
_GRID_VEC_KWARGS = {
    "vectorization_mode": "sync",
    "vector_kwargs": {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
}
GRID = Suite(
    "grid",
    robot_obs_dims={r: grid.ROBOT_OBS_DIM for r in grid.ROBOTS},
    task_obs_dims={t: grid.TASK_OBS_DIM for t in grid.TASKS},
    action_spaces={r: grid.action_space(r) for r in grid.ROBOTS},
    id_format="modrl/Grid-{robot}-{task}-v0",
    make_vec_kwargs=_GRID_VEC_KWARGS,
    action_names=grid.ROBOTS,
)
GRID6 = Suite(
    "grid6",
    robot_obs_dims={r: grid6.robot_obs_dim(r) for r in grid6.ROBOTS},
    task_obs_dims={t: grid6.task_obs_dim(t) for t in grid6.TASKS},
    action_spaces={r: grid6.action_space(r) for r in grid6.ROBOTS},
    id_format="modrl/Grid6-{robot}-{task}-v0",
    make_vec_kwargs=_GRID_VEC_KWARGS,
    action_names={r: body.actions for r, body in grid6.ROBOTS.items()},
)
SUITES: dict[str, Suite] = {"arms": ARMS, "arms6": ARMS6, "grid": GRID, "grid6": GRID6}


def get_suite(name: str) -> Suite:
    """The suite called `name` ("arms", "arms6", "grid" or "grid6")."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid suites: {sorted(SUITES)}")
    return SUITES[name]


def _register() -> None:
    arm_suites = ((ARMS, "ArmEnv", "ArmVectorEnv", arms.MAX_EPISODE_STEPS),
                  (ARMS6, "Arms6Env", "Arms6VectorEnv", {t: spec.max_steps for t, spec in arms.ARMS6_TASKS.items()}))
    for suite, env, vector_env, max_steps in arm_suites:
        for robot, task in suite.pairs():
            env_id = suite.env_id(robot, task)
            if env_id not in gym.registry:
                gym.register(
                    id=env_id,
                    entry_point=f"envs.arms:{env}",
                    vector_entry_point=f"envs.arms:{vector_env}",
                    max_episode_steps=max_steps[task],
                    kwargs={"robot": robot, "task": task},
                )
    grid_suites = ((GRID, "envs.grid:make_grid_env", grid.MAX_EPISODE_STEPS),
                   (GRID6, "envs.grid6:make_grid6_env", grid6.MAX_EPISODE_STEPS))
    for suite, make, max_steps in grid_suites:
        for robot, task in suite.pairs():
            env_id = suite.env_id(robot, task)
            if env_id not in gym.registry:
                gym.register(
                    id=env_id,
                    entry_point=make,
                    max_episode_steps=max_steps[task],
                    kwargs={"robot": robot, "task": task, "max_steps": max_steps[task]},
                )


_register()

__all__ = ["ARMS", "ARMS6", "GRID", "GRID6", "SUITES", "Suite", "get_suite", "ArmEnv", "ArmVectorEnv", "Arms6Env",
           "Arms6VectorEnv", "scripted_action"]
