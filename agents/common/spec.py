"""What a policy needs to know of a suite: names, observation widths and action sizes.

Robot observations, task observations and actions are zero-padded to the
widest robot / task, and an action mask tells each row which entries are
its robot's own; so every (robot, task) pair fits one batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SuiteSpec:
    robots: tuple[str, ...]
    tasks: tuple[str, ...]
    robot_obs_dims: dict[str, int]
    task_obs_dims: dict[str, int]
    action_dims: dict[str, int]
    discrete: bool
    widths: tuple[int, int, int] = (0, 0, 0)
    """padded (robot obs, task obs, action) widths: the whole suite's, kept by `subset`"""

    def __post_init__(self) -> None:
        if self.widths == (0, 0, 0):
            object.__setattr__(self, "widths", (max(self.robot_obs_dims.values()), max(self.task_obs_dims.values()),
                                                max(self.action_dims.values())))

    def subset(self, robots: list[str], tasks: list[str]) -> "SuiteSpec":
        """Only these robots and tasks, with the suite's padded widths, so module files stay interchangeable."""
        for r in robots:
            self.robot_id(r)
        for t in tasks:
            self.task_id(t)
        return SuiteSpec(tuple(robots), tuple(tasks), {r: self.robot_obs_dims[r] for r in robots},
                         {t: self.task_obs_dims[t] for t in tasks}, {r: self.action_dims[r] for r in robots},
                         self.discrete, self.widths)

    @classmethod
    def from_suite(cls, suite) -> "SuiteSpec":
        spaces = {r: suite.action_space(r) for r in suite.robots}
        discrete = all(hasattr(s, "n") for s in spaces.values())
        return cls(
            robots=tuple(suite.robots), tasks=tuple(suite.tasks),
            robot_obs_dims={r: suite.robot_obs_dim(r) for r in suite.robots},
            task_obs_dims={t: suite.task_obs_dim(t) for t in suite.tasks},
            action_dims={r: int(s.n) if discrete else int(s.shape[0]) for r, s in spaces.items()},
            discrete=discrete,
        )

    @property
    def robot_width(self) -> int:
        return self.widths[0]

    @property
    def task_width(self) -> int:
        return self.widths[1]

    @property
    def action_width(self) -> int:
        return self.widths[2]

    def robot_id(self, robot: str) -> int:
        if robot not in self.robots:
            raise ValueError(f"unknown robot {robot!r}; valid robots: {list(self.robots)}")
        return self.robots.index(robot)

    def task_id(self, task: str) -> int:
        if task not in self.tasks:
            raise ValueError(f"unknown task {task!r}; valid tasks: {list(self.tasks)}")
        return self.tasks.index(task)

    def action_masks(self) -> Tensor:
        """[R, A] bool: which padded action entries each robot owns."""
        masks = torch.zeros(len(self.robots), self.action_width, dtype=torch.bool)
        for i, r in enumerate(self.robots):
            masks[i, : self.action_dims[r]] = True
        return masks

    def to_dict(self) -> dict:
        return asdict(self) | {"robots": list(self.robots), "tasks": list(self.tasks), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, data: dict) -> "SuiteSpec":
        return cls(**(data | {"robots": tuple(data["robots"]), "tasks": tuple(data["tasks"]),
                              "widths": tuple(data["widths"])}))


@dataclass
class ObsBatch:
    """A padded batch of observations from any mix of (robot, task) pairs."""

    robot: Tensor  # [B, robot_width]
    task: Tensor  # [B, task_width]
    robot_ids: Tensor  # [B] long
    task_ids: Tensor  # [B] long

    def __getitem__(self, index) -> "ObsBatch":
        return ObsBatch(self.robot[index], self.task[index], self.robot_ids[index], self.task_ids[index])

    @staticmethod
    def stack(batches: list["ObsBatch"]) -> "ObsBatch":
        """[T] batches of [N] rows → one batch of [T, N] rows."""
        return ObsBatch(*(torch.stack([getattr(b, f) for b in batches]) for f in ("robot", "task", "robot_ids", "task_ids")))

    def to(self, device: torch.device | str) -> "ObsBatch":
        return ObsBatch(self.robot.to(device), self.task.to(device), self.robot_ids.to(device), self.task_ids.to(device))

    def flatten(self) -> "ObsBatch":
        return ObsBatch(self.robot.flatten(0, 1), self.task.flatten(0, 1), self.robot_ids.flatten(), self.task_ids.flatten())
