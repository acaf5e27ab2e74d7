"""`Suite`: the robots, the tasks, their gymnasium ids and train / held-out splits."""

from __future__ import annotations

import random

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym


class Suite:
    """A robot x task family of registered gymnasium environments.

    Every (robot, task) pair is one id; `splits` names which pairs to train
    on and which to hold out for zero-shot recombination (Devin et al.,
    2017): each held-out pair's robot and task are both seen in training,
    only never together.
    """

    def __init__(
        self,
        name: str,
        robot_obs_dims: Mapping[str, int],
        task_obs_dims: Mapping[str, int],
        action_spaces: Mapping[str, gym.Space],
        id_format: str,
        make_vec_kwargs: Mapping[str, Any] | None = None,
        action_names: Mapping[str, Sequence[str]] | None = None,
        step_info: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.robots: tuple[str, ...] = tuple(robot_obs_dims)
        self.tasks: tuple[str, ...] = tuple(task_obs_dims)
        self._robot_obs_dims = dict(robot_obs_dims)
        self._task_obs_dims = dict(task_obs_dims)
        self._action_spaces = dict(action_spaces)
        self._id_format = id_format
        self._make_vec_kwargs = dict(make_vec_kwargs or {})
        self._action_names = {r: tuple(names) for r, names in (action_names or {}).items()}
        self.step_info: tuple[str, ...] = tuple(step_info)
        """info entries every env reports at every step besides is_success and distance (e.g. "ee_move")"""
        for robot, names in self._action_names.items():
            if len(names) != getattr(self._action_spaces.get(robot), "n", None):
                raise ValueError(f"suite {name!r}: robot {robot!r} has {len(names)} action names for action space "
                                 f"{self._action_spaces.get(robot)}")

    def __repr__(self) -> str:
        return f"Suite({self.name!r}, robots={self.robots}, tasks={self.tasks})"

    def check(self, robot: str, task: str) -> None:
        """Raise ValueError, listing the valid names, if robot or task is unknown."""
        if robot not in self.robots:
            raise ValueError(f"unknown robot {robot!r} in suite {self.name!r}; valid robots: {list(self.robots)}")
        if task not in self.tasks:
            raise ValueError(f"unknown task {task!r} in suite {self.name!r}; valid tasks: {list(self.tasks)}")

    def pairs(self) -> list[tuple[str, str]]:
        """Every (robot, task) pair, robot-major."""
        return [(r, t) for r in self.robots for t in self.tasks]

    @property
    def id_format(self) -> str:
        """The ids' pattern, e.g. "modrl/{robot}-{task}-v1": its version changes when observations do."""
        return self._id_format

    def env_id(self, robot: str, task: str) -> str:
        """The registered gymnasium id of a pair."""
        self.check(robot, task)
        return self._id_format.format(robot=robot, task=task)

    def default_holdout(self) -> list[tuple[str, str]]:
        """A diagonal: robot i with task i, so each robot and task keeps other partners."""
        k = min(len(self.robots), len(self.tasks))
        if k < 2:
            return []
        return [(self.robots[i], self.tasks[i]) for i in range(k)]

    def random_holdout(self, fraction: float, seed: int) -> list[tuple[str, str]]:
        """round(fraction × pairs) held-out pairs, drawn uniformly among the splits in which every robot
        and every task keeps at least one trained partner (so every module trains); same seed, same split.

        Raises ValueError when no such split exists: at most pairs − max(robots, tasks) can be held out."""
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"holdout fraction must be in [0, 1), got {fraction}")
        pairs = self.pairs()
        count = round(fraction * len(pairs))
        most = len(pairs) - max(len(self.robots), len(self.tasks))
        if count > most:
            raise ValueError(f"holdout fraction {fraction} holds out {count} of {len(pairs)} pairs, but every robot "
                             f"and task needs a trained partner: at most {most} ({most / len(pairs):.2f}) can be held out")
        rng = random.Random(seed)
        for _ in range(100_000):  # rejection sampling: uniform over the valid splits
            held = sorted(rng.sample(pairs, count), key=pairs.index)
            train = [p for p in pairs if p not in held]
            if {r for r, _ in train} == set(self.robots) and {t for _, t in train} == set(self.tasks):
                return held
        raise ValueError(f"found no split holding out {count} of {len(pairs)} pairs with every robot and task "  # pragma: no cover
                         f"trained; try a smaller fraction")

    def splits(self, holdout: Sequence[tuple[str, str]] | None = None) -> dict[str, list[tuple[str, str]]]:
        """`train` and `holdout` pair lists; holdout defaults to `default_holdout()`.

        Raises ValueError for an unknown or repeated pair, or if a robot or a
        task would be missing from `train` (its module could not be trained).
        """
        held = self.default_holdout() if holdout is None else [tuple(p) for p in holdout]
        for pair in held:
            if len(pair) != 2:
                raise ValueError(f"holdout entries must be (robot, task) pairs, got {pair!r}")
            self.check(*pair)
        if len(set(held)) != len(held):
            raise ValueError(f"holdout has repeated pairs: {held}")
        train = [p for p in self.pairs() if p not in set(held)]
        missing = [r for r in self.robots if all(p[0] != r for p in train)]
        missing += [t for t in self.tasks if all(p[1] != t for p in train)]
        if missing:
            raise ValueError(f"holdout leaves {missing} with no training pair; every robot and task must appear in train")
        return {"train": train, "holdout": list(held)}

    def robot_obs_dim(self, robot: str) -> int:
        """Size of the `robot` observation."""
        self.check(robot, self.tasks[0])
        return self._robot_obs_dims[robot]

    def task_obs_dim(self, task: str) -> int:
        """Size of the `task` observation."""
        self.check(self.robots[0], task)
        return self._task_obs_dims[task]

    def action_space(self, robot: str) -> gym.Space:
        """The robot's own (single-env) action space."""
        self.check(robot, self.tasks[0])
        return self._action_spaces[robot]

    def action_names(self, robot: str) -> tuple[str, ...]:
        """The names of the robot's discrete actions, in index order ("a0", "a1", ... when the suite names none).

        Raises ValueError for a continuous action space."""
        space = self.action_space(robot)
        if not isinstance(space, gym.spaces.Discrete):
            raise ValueError(f"suite {self.name!r} has continuous actions; action shares are for discrete suites")
        return self._action_names.get(robot) or tuple(f"a{i}" for i in range(int(space.n)))

    def make(self, robot: str, task: str, num_envs: int, seed: int | None = None) -> gym.vector.VectorEnv:
        """A vector env with SAME_STEP autoreset (final obs in `info["final_obs"]`).

        With a seed, the env is reset with it (and its action space seeded),
        so later unseeded `reset()` calls are reproducible too.
        """
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        env = gym.make_vec(self.env_id(robot, task), num_envs=num_envs, **self._make_vec_kwargs)
        if seed is not None:
            env.reset(seed=seed)
            env.action_space.seed(seed)
        return env
