"""Several (robot, task) vector envs stepped as one padded torch batch.

Each pair runs as its own batched env; their observations are padded and
concatenated so one policy forward pass serves every pair (the module banks
group the rows by robot and by task).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from agents.common.spec import ObsBatch, SuiteSpec


@dataclass
class StepResult:
    obs: ObsBatch  # next observations (already reset where an episode ended)
    reward: Tensor  # [N]
    terminated: Tensor  # [N] bool
    truncated: Tensor  # [N] bool
    final_obs: ObsBatch | None  # last observations of the rows whose episode ended (rows of `ended`); None if none did
    ended: Tensor  # [N] bool
    success: Tensor  # [N] bool, meaningful where `ended`
    distance: Tensor  # [N] float, task distance at episode end, meaningful where `ended`
    ee_move: Tensor | None = None  # [N, 2] the step's end-effector move, where the suite reports it (arms suites)

    def to(self, device: torch.device) -> "StepResult":
        """Every tensor on `device` (observations already are)."""
        move = lambda t: t.to(device)  # noqa: E731
        return StepResult(self.obs, move(self.reward), move(self.terminated), move(self.truncated), self.final_obs,
                          move(self.ended), move(self.success), move(self.distance),
                          None if self.ee_move is None else move(self.ee_move))


class MultiPairEnv:
    """`num_envs` copies of each pair; rows are pair-major: pair p owns rows [p·n, (p+1)·n)."""

    def __init__(self, suite, spec: SuiteSpec, pairs: list[tuple[str, str]], num_envs: int,
                 device: torch.device | str = "cpu") -> None:
        if not pairs:
            raise ValueError("MultiPairEnv needs at least one (robot, task) pair")
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        for robot, task in pairs:
            suite.check(robot, task)
        self.spec, self.pairs, self.num_envs, self.device = spec, list(pairs), num_envs, torch.device(device)
        self.envs = [suite.make(r, t, num_envs) for r, t in pairs]
        self.size = len(pairs) * num_envs
        self.robot_ids = torch.tensor([spec.robot_id(r) for r, _ in pairs]).repeat_interleave(num_envs)
        self.task_ids = torch.tensor([spec.task_id(t) for _, t in pairs]).repeat_interleave(num_envs)
        self.action_dims = [spec.action_dims[r] for r, _ in pairs]
        self.reports_ee_move = "ee_move" in suite.step_info

    def _batch(self, robot: list[np.ndarray], task: list[np.ndarray], rows: Tensor | None = None) -> ObsBatch:
        """Pad each pair's robot and task observations to the suite's widths and stack them."""
        ids = slice(None) if rows is None else rows
        batch = ObsBatch(_padded(robot, self.spec.robot_width), _padded(task, self.spec.task_width),
                         self.robot_ids[ids], self.task_ids[ids])
        return batch if self.device.type == "cpu" else batch.to(self.device)

    def reset(self, seed: int) -> ObsBatch:
        """Reset every copy. A pair's seed depends on its names, not its position, so a pair
        evaluates the same whatever other pairs run beside it."""
        obs = [env.reset(seed=seed + zlib.crc32(f"{r}-{t}".encode()) % 1_000_000)[0]
               for (r, t), env in zip(self.pairs, self.envs)]
        return self._batch([o["robot"] for o in obs], [o["task"] for o in obs])

    def step(self, actions: Tensor) -> StepResult:
        """Step with padded actions [N, A] (continuous, clipped to [-1, 1]) or [N] (discrete)."""
        actions = actions.detach().cpu()
        actions = actions.long().numpy() if self.spec.discrete else actions.clamp(-1, 1).numpy()
        robot, task, rewards, terms, truncs = [], [], [], [], []
        final_robot, final_task, success, distance, ee_moves = [], [], [], [], []
        for p, env in enumerate(self.envs):
            rows = actions[p * self.num_envs : (p + 1) * self.num_envs]
            if not self.spec.discrete:
                rows = rows[:, : self.action_dims[p]]
            obs, reward, term, trunc, info = env.step(rows)
            robot.append(obs["robot"]), task.append(obs["task"])
            rewards.append(reward), terms.append(term), truncs.append(trunc)
            done = term | trunc
            s, d = np.zeros(self.num_envs, bool), np.zeros(self.num_envs, np.float32)
            if self.reports_ee_move:
                ee_moves.append(np.array(info["ee_move"], np.float32))
            if done.any():
                final = info["final_info"]
                s[done], d[done] = final["is_success"][done], final["distance"][done]
                if self.reports_ee_move:  # an ended row's move is its last step's, not the reset's
                    ee_moves[-1][done] = final["ee_move"][done]
                last = [info["final_obs"][i] for i in np.flatnonzero(done)]
                final_robot.append(np.stack([o["robot"] for o in last]))
                final_task.append(np.stack([o["task"] for o in last]))
            success.append(s), distance.append(d)
        terminated, truncated = _joined(terms), _joined(truncs)
        ended = torch.from_numpy(terminated | truncated)
        final_obs = None
        if final_robot:
            final_obs = self._batch(final_robot, final_task, ended.nonzero().flatten())
        result = StepResult(
            obs=self._batch(robot, task),
            reward=torch.from_numpy(_joined(rewards).astype(np.float32, copy=False)),
            terminated=torch.from_numpy(terminated), truncated=torch.from_numpy(truncated),
            final_obs=final_obs, ended=ended,
            success=torch.from_numpy(_joined(success)), distance=torch.from_numpy(_joined(distance)),
            ee_move=torch.from_numpy(_joined(ee_moves)) if self.reports_ee_move else None,
        )
        return result if self.device.type == "cpu" else result.to(self.device)

    def pair_of_row(self) -> list[tuple[str, str]]:
        return [pair for pair in self.pairs for _ in range(self.num_envs)]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The pairs' arrays end to end (one pair: its own array, no copy)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _padded(parts: list[np.ndarray], width: int) -> Tensor:
    """The pairs' [n_i, w_i] float arrays zero-padded to `width` columns and stacked: [sum n_i, width]."""
    if len(parts) == 1 and parts[0].shape[1] == width and parts[0].dtype == np.float32:
        return torch.from_numpy(np.ascontiguousarray(parts[0]))
    out = np.zeros((sum(len(x) for x in parts), width), np.float32)
    start = 0
    for x in parts:
        out[start : start + len(x), : x.shape[1]] = x
        start += len(x)
    return torch.from_numpy(out)
