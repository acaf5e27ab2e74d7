"""Robot x task gymnasium environments. Importing this registers every id.

Three suites: `ARMS` (planar arms, continuous control, after Devin et al.,
2017), `ARMS6` (six arms that differ in more than their links x six
end-effector tasks) and `GRID` (MiniGrid embodiments, after Mendez et al.,
2022). Ids are `modrl/{Robot}-{Task}-v1`, `modrl/Arms6-{Robot}-{Task}-v0` and
`modrl/Grid-{Robot}-{Task}-v0`. Never imports torch.
"""

from __future__ import annotations

import gymnasium as gym

from envs import arms, grid
from envs.arms import ArmEnv, Arms6Env, Arms6VectorEnv, ArmVectorEnv, scripted_action
from envs.suite import Suite

ARMS = Suite(
    "arms",
    robot_obs_dims={r: arms.robot_obs_dim(r) for r in arms.ROBOTS},
    task_obs_dims={t: arms.TASK_OBS_DIM for t in arms.TASKS},
    action_spaces={r: arms.action_space(r) for r in arms.ROBOTS},
    id_format="modrl/{robot}-{task}-v1",  # v1: base-frame observations,
)
ARMS6 = Suite(
    "arms6",
    robot_obs_dims={r: arms.robot_obs_dim(r, "arms6") for r in arms.ARMS6_ROBOTS},
    task_obs_dims={t: arms.task_obs_dim(t, "arms6") for t in arms.ARMS6_TASKS},
    action_spaces={r: arms.action_space(r, "arms6") for r in arms.ARMS6_ROBOTS},
    id_format="modrl/Arms6-{robot}-{task}-v0",  # its own name: a v2 of the arms ids would mark every v1 id out of date
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
SUITES: dict[str, Suite] = {"arms": ARMS, "arms6": ARMS6, "grid": GRID}


def get_suite(name: str) -> Suite:
    """The suite called `name` ("arms", "arms6" or "grid")."""
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

__all__ = ["ARMS", "ARMS6", "GRID", "SUITES", "Suite", "get_suite", "ArmEnv", "ArmVectorEnv", "Arms6Env", "Arms6VectorEnv",
           "scripted_action"]
