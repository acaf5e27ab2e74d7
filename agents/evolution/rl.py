"""RL problems for path search: a path trained with PPO on one (robot, task) pair of a suite.

`PathPolicy` follows the policy contract with a constant `Path` (nothing is replayed): the padded
robot and task observations go through the path's modules, then the task's head gives action
parameters and a value, masked to the robot's own actions.

- `RLTasks` (PathNet): every module is an `actor_critic` module (an actor part and a critic part
  side by side), so a path carries both the policy and its critic.
- `RLSequence` (µNet): the path's hidden layers are `linear` modules with ReLU between them, one
  feature stream that actor and critic share (as PathNet's A3C shares its path between policy and
  value), and each pair's head is an `actor_critic` module with its own hidden layer per part.
  One stream of non-negative features is what µNet's identity layers and residual adapters need:
  an identity `Linear` and a zero adapter change nothing there, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from agents.common.contract import ActionDist, Replay
from agents.common.evaluate import evaluate
from agents.common.multipair import MultiPairEnv
from agents.common.report import parse_pairs
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.policies import action_dist
from agents.rl.ppo import PPO, PPOConfig
from modrl import ModuleBank, Path, RoutedNetwork

METRICS = ("return", "success")


def _tiny_ppo() -> PPOConfig:
    return PPOConfig(num_envs=8, num_steps=64, num_minibatches=4, update_epochs=4, learning_rate=3e-3,
                     anneal_lr=False, checkpoint_every=10**9)


@dataclass(frozen=True)
class RLTasks:
    """Task i is the pair `pairs[i]` ("Robot:Task") of `suite`; a path trains with PPO for `steps`
    updates of `ppo.num_envs × ppo.num_steps` steps; fitness = mean episode success (or return)
    over the episodes that ended during those updates (0 when none did)."""

    suite: str = "arms"
    pairs: tuple[str, ...] = ("Arm2:ReachRed", "Arm2:Push")
    ppo: PPOConfig = field(default_factory=_tiny_ppo)
    metric: str = "success"
    eval_episodes: int = 32
    test_episodes: int = 100

    activation = "identity"  # the modules end in their own activation

    def __post_init__(self) -> None:
        suite = self._suite
        for robot, task in parse_pairs(self.pairs):
            suite.check(robot, task)
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {self.metric!r}")

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.pairs)

    @property
    def _suite(self):
        import envs

        return envs.get_suite(self.suite)

    @property
    def spec(self) -> SuiteSpec:
        return SuiteSpec.from_suite(self._suite)

    def pair(self, task: int) -> tuple[str, str]:
        return parse_pairs((self.pairs[task],))[0]

    @property
    def in_features(self) -> int:
        return self.spec.robot_width + self.spec.task_width

    def layer_bank(self, layer: int, width: int, num_modules: int) -> ModuleBank:
        own, shared = (0, self.in_features) if layer == 0 else (width, 0)
        return ModuleBank("actor_critic", num_modules, actor_in=own, critic_in=own, shared_in=shared,
                          actor_out=width, critic_out=width, hidden=[width], final_activation=True)

    def head_bank(self, width: int, num_heads: int) -> ModuleBank:
        spec = self.spec
        return ModuleBank("actor_critic", num_heads, actor_in=width, critic_in=width, shared_in=0,
                          actor_out=spec.action_width, critic_out=1, hidden=[width], log_std=not spec.discrete)

    def train(self, net: RoutedNetwork, path: Path, task: int, steps: int, lr: float, seed: int) -> float:
        policy = PathPolicy(net, self.spec, path)
        envs = MultiPairEnv(self._suite, policy.spec, [self.pair(task)], self.ppo.num_envs)
        config = replace(self.ppo, seed=seed, learning_rate=lr, anneal_lr=False, checkpoint_every=10**9,
                         total_timesteps=steps * envs.size * self.ppo.num_steps)
        try:
            history = PPO(policy, envs, config, progress=False).train()
        finally:
            envs.close()
        values = [pair[self.metric] for record in history for pair in record["pairs"].values()]
        return float(np.mean(values)) if values else 0.0  # no episode ended in the window

    def evaluate(self, net: RoutedNetwork, path: Path, task: int, split: str = "val") -> float:
        """Success rate over `eval_episodes` ("val") or `test_episodes` ("test") with sampled actions;
        each split has its own episodes, the same for every path."""
        episodes, seed = (self.test_episodes, 20_000) if split == "test" else (self.eval_episodes, 10_000)
        return self.success(net, path, [self.pair(task)], episodes, seed)[0]

    def success(self, net: RoutedNetwork, path: Path, pairs: list[tuple[str, str]], episodes: int,
                seed: int) -> list[float]:
        """Success rate of `path` on each of `pairs` (any pairs of the suite: zero-shot on the others)."""
        records = evaluate(PathPolicy(net, self.spec, path), self._suite, pairs, episodes, seed=seed,
                           deterministic=False)
        return [r["success_rate"] for r in records]


@dataclass(frozen=True)
class RLSequence(RLTasks):
    """µNet's RL problem: the pairs introduced one at a time, a `linear` trunk shared by actor and
    critic (ReLU between layers) and an actor-critic head per pair (see the module docstring)."""

    eval_episodes: int = 64  # a candidate's quality: one evaluation, so more episodes than PathNet's default

    activation = "relu"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(set(self.pairs)) != len(self.pairs):
            raise ValueError(f"pairs must not repeat, got {list(self.pairs)}")

    def layer_bank(self, layer: int, width: int, num_modules: int) -> ModuleBank:
        return ModuleBank("linear", num_modules, in_features=self.in_features if layer == 0 else width,
                          out_features=width)

    def head_bank(self, width: int, num_heads: int) -> ModuleBank:
        spec = self.spec
        return ModuleBank("actor_critic", num_heads, actor_in=0, critic_in=0, shared_in=width,
                          actor_out=spec.action_width, critic_out=1, hidden=[width], log_std=not spec.discrete)


def zero_shot_source(pair: tuple[str, str], introduced: list[tuple[str, str]]) -> int | None:
    """Which introduced pair a never-introduced pair borrows its path and head from: the latest one
    with the same task (None: no introduced pair has that task)."""
    same_task = [i for i, (_, task) in enumerate(introduced) if task == pair[1]]
    return same_task[-1] if same_task else None


class PathPolicy(nn.Module):
    """A policy over a suite that runs one constant `Path` of a routed network (the contract's `draw`
    samples nothing)."""

    def __init__(self, net: RoutedNetwork, spec: SuiteSpec, path: Path) -> None:
        super().__init__()
        if len(path) != len(net.layers):
            raise ValueError(f"path has {len(path)} layers, network has {len(net.layers)}")
        self.net, self.spec, self.path = net, spec, path
        self.head = path.choices[-1][0]
        self.register_buffer("action_masks", spec.action_masks().float(), persistent=False)

    def draw(self, obs: ObsBatch, starts: Tensor | None = None) -> Replay:
        return {}

    def forward(self, obs: ObsBatch) -> tuple[Tensor, Tensor]:
        out, _ = self.net(torch.cat([obs.robot, obs.task], -1), path=self.path)
        return out[:, :-1], out[:, -1]

    def distribution(self, obs: ObsBatch, replay: Replay) -> ActionDist:
        params, value = self(obs)
        log_std = None
        if not self.spec.discrete:
            log_std = self.net.layers[-1].bank.stacked()["log_std"][self.head].expand(params.shape[0], -1)
        return action_dist(self, obs, params, value, log_std)

    def aux_losses(self, obs: ObsBatch, dist: ActionDist, replay: Replay,
                   advantages: Tensor | None = None) -> dict[str, Tensor]:
        return {}

    def banks(self) -> dict[str, Any]:
        return {}
