"""Actor-critic policies over every (robot, task) pair of a suite.

`ModularPolicy` is the core's fixed routing with sequential aggregation
(Devin et al., 2017): action = robot_module[r](task_module[t](task_obs), robot_obs),
two `RoutedLayer`s whose `FixedRouter`s read the task id and the robot id.
`MonolithicPolicy` is the baseline: one network for all pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Categorical

from modrl.modules.actor_critic import ActorCriticModule
from agents.common.spec import ObsBatch, SuiteSpec
from modrl import FixedRouter, HyperBank, ModuleBank, RoutedLayer, Sequential

POLICIES = ("modular", "monolithic")
ROLES = ("robot", "task")
DROPOUT_MODES = ("update", "replay", "consistency")
NOISE_KINDS = ("bernoulli", "gaussian")
INTERFACE_DIM = 16  # task → robot interface width (actor and critic each)
INTERFACE = {"interface_dim": INTERFACE_DIM, "interface_dropout": 0.0, "dropout_mode": "consistency",
             "interface_noise": "bernoulli"}  # generic interface settings
SUITE_INTERFACE = {  # what recombined best on each suite (README): what `scripts/train.py` uses by default
    "arms": {"interface_dim": 2, "interface_dropout": 0.2, "dropout_mode": "replay", "interface_noise": "gaussian"},
    "grid": {"interface_dim": 16, "interface_dropout": 0.2, "dropout_mode": "update", "interface_noise": "bernoulli"},
}
TASK_HIDDEN = (64,)
ROBOT_HIDDEN = (64, 64)
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def suite_interface(suite: str) -> dict[str, float | int | str]:
    """The interface settings (width, dropout, dropout mode, noise kind) `scripts/train.py` uses on `suite`
    unless told otherwise: the ones that recombined best there."""
    return INTERFACE | SUITE_INTERFACE.get(suite, {})


def default_interface_dim(suite: str) -> int:
    """The interface width `scripts/train.py` and the SB3 policy use on `suite` unless told otherwise."""
    return int(suite_interface(suite)["interface_dim"])


class ModularPolicy(nn.Module):
    """Task modules feed robot modules through a fixed-width interface (one for actor, one for critic).

    Its interface arguments default to the generic settings (`INTERFACE`: 16 wide, no dropout);
    `scripts/train.py` uses `suite_interface(suite)` instead (arms: 2 wide, gaussian dropout 0.2,
    replayed) and the SB3 policy `default_interface_dim(suite)`."""

    def __init__(self, spec: SuiteSpec, interface_dim: int = INTERFACE_DIM, task_hidden: tuple[int, ...] = TASK_HIDDEN,
                 robot_hidden: tuple[int, ...] = ROBOT_HIDDEN, interface_dropout: float = 0.0,
                 dropout_mode: str = "consistency", hyper_banks: tuple[str, ...] = (), hyper_dim: int = 8,
                 interface_noise: str = "bernoulli") -> None:
        """`interface_noise`: the kind of dropout, "bernoulli" (zero a unit with probability p, scale the
        rest by 1/(1-p)) or "gaussian" (multiply every unit by 1 + sqrt(p/(1-p))·N(0, 1): the same
        variance, but no unit is ever silenced, which suits narrow interfaces; a unit's sign flips when
        its factor is negative, for about 16% of units at p = 0.5).
        `hyper_banks`: roles ("robot", "task") whose modules a `HyperBank` generates from a shared base
        and one learned code per module (φᵢ = φ₀ + W αᵢ), so they learn from each other's pairs; they are
        still saved one file per module, as plain modules."""
        super().__init__()
        if interface_dim < 1:
            raise ValueError(f"interface_dim must be >= 1, got {interface_dim}")
        self.spec, self.interface_dim = spec, interface_dim
        unknown = set(hyper_banks) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown hyper_banks roles {sorted(unknown)}; valid: {list(ROLES)}")
        self.hyper_banks = tuple(hyper_banks)

        def bank(role: str, size: int, **config) -> ModuleBank:
            if role in self.hyper_banks:
                return HyperBank("actor_critic", size, embedding_dim=hyper_dim, **config)
            return ModuleBank("actor_critic", size, **config)

        task_bank = bank("task", len(spec.tasks), actor_in=0, critic_in=0, shared_in=spec.task_width,
                         actor_out=interface_dim, critic_out=interface_dim, hidden=list(task_hidden),
                         final_activation=True)
        robot_bank = bank("robot", len(spec.robots), actor_in=interface_dim, critic_in=interface_dim,
                          shared_in=spec.robot_width, actor_out=spec.action_width, critic_out=1,
                          hidden=list(robot_hidden), log_std=not spec.discrete)
        self.task_layer = RoutedLayer(task_bank, FixedRouter.one_per_task(len(spec.tasks)), Sequential())
        self.robot_layer = RoutedLayer(robot_bank, FixedRouter.one_per_task(len(spec.robots)), Sequential())
        if not 0.0 <= interface_dropout < 1.0:
            raise ValueError(f"interface_dropout must be in [0, 1), got {interface_dropout}")
        if dropout_mode not in DROPOUT_MODES:
            raise ValueError(f"unknown dropout_mode {dropout_mode!r}; valid: {list(DROPOUT_MODES)}")
        if interface_noise not in NOISE_KINDS:
            raise ValueError(f"unknown interface_noise {interface_noise!r}; valid: {list(NOISE_KINDS)}")
        self.interface_dropout, self.dropout_mode = interface_dropout, dropout_mode
        self.interface_noise = interface_noise
        self.register_buffer("action_masks", spec.action_masks().float(), persistent=False)

    def noise(self, batch_size: int) -> Tensor | None:
        """Interface dropout masks [B, 2·interface] to act with, in `dropout_mode="replay"` (else None).

        PPO stores them with the rollout and replays them in the update. In mode "update" the
        policy acts with the full interface and dropout acts only in the update (in train mode);
        in mode "consistency" PPO sees the full interface only and dropout enters through
        `regulariser`. See the README for what each mode measured."""
        if self.dropout_mode != "replay" or self.interface_dropout == 0.0:
            return None
        return self._masks(batch_size)

    def _masks(self, batch_size: int) -> Tensor:
        p, shape = self.interface_dropout, (batch_size, 2 * self.interface_dim)
        if self.interface_noise == "gaussian":
            return 1.0 + math.sqrt(p / (1.0 - p)) * torch.randn(shape, device=self.action_masks.device)
        return torch.bernoulli(torch.full(shape, 1.0 - p, device=self.action_masks.device)) / (1.0 - p)

    def regulariser(self, obs: ObsBatch, dist: "ActionDist") -> Tensor | None:
        """Mode "consistency": KL(π(full interface) ‖ π(dropped-out interface)), with `dist` the full
        policy on `obs` held fixed, so robot modules learn to act alike on partial interfaces while
        PPO's ratio stays exact."""
        if self.dropout_mode != "consistency" or self.interface_dropout == 0.0 or not self.training:
            return None
        dropped, _ = self(obs, self._masks(obs.robot.shape[0]))
        if self.spec.discrete:
            full = dist.dist.logits.detach()  # already masked and normalised
            drop = dropped.masked_fill(dist.mask == 0, -1e9).log_softmax(-1)
            return (full.exp() * (full - drop)).sum(-1).mean()
        var = dist.std.detach() ** 2
        return ((dropped - dist.mean.detach()) ** 2 / (2 * var) * dist.mask).sum(-1).mean()

    def forward(self, obs: ObsBatch, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(actor output [B, A], value [B]); `noise`, if given, replaces dropout on the interface."""
        interface, _ = self.task_layer(obs.task, obs.task_ids)
        if noise is not None:
            interface = interface * noise
        elif self.dropout_mode == "update" and self.training and self.interface_dropout > 0.0:
            interface = interface * self._masks(interface.shape[0])
        out, _ = self.robot_layer(torch.cat([interface, obs.robot], -1), obs.robot_ids)
        return out[:, :-1], out[:, -1]

    def log_std(self, obs: ObsBatch) -> Tensor:
        return self.robot_layer.bank.stacked()["log_std"].index_select(0, obs.robot_ids)

    def banks(self) -> dict[str, tuple[ModuleBank, tuple[str, ...]]]:
        """The module banks by role, with the names of their modules (for saving one file per module)."""
        return {"robot": (self.robot_layer.bank, self.spec.robots), "task": (self.task_layer.bank, self.spec.tasks)}


class MonolithicPolicy(nn.Module):
    """One network for all pairs: input = padded robot and task observations + one-hot robot and task ids."""

    def __init__(self, spec: SuiteSpec, hidden: tuple[int, ...] = (128, 128)) -> None:
        super().__init__()
        self.spec = spec
        width = spec.robot_width + spec.task_width + len(spec.robots) + len(spec.tasks)
        self.net = ActorCriticModule(0, 0, width, spec.action_width, 1, hidden=list(hidden), log_std=not spec.discrete)
        self.register_buffer("action_masks", spec.action_masks().float(), persistent=False)

    def noise(self, batch_size: int) -> None:
        return None

    def forward(self, obs: ObsBatch, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs.robot, obs.task, F.one_hot(obs.robot_ids, len(self.spec.robots)).float(),
                       F.one_hot(obs.task_ids, len(self.spec.tasks)).float()], -1)
        out = self.net(x)
        return out[:, :-1], out[:, -1]

    def log_std(self, obs: ObsBatch) -> Tensor:
        return self.net.log_std.expand(obs.robot_ids.shape[0], -1)

    def banks(self) -> dict:
        return {}


def build_policy(kind: str, spec: SuiteSpec, **kwargs) -> nn.Module:
    if kind == "modular":
        return ModularPolicy(spec, **kwargs)
    if kind == "monolithic":
        return MonolithicPolicy(spec, **{k: v for k, v in kwargs.items() if k == "hidden"})
    raise ValueError(f"unknown policy {kind!r}; valid: {list(POLICIES)}")


class ActionDist:
    """The action distribution of a padded batch: entries outside a robot's own action are masked out.

    Continuous actions are a diagonal Gaussian written out by hand (mean, state-independent log
    std): a `torch.distributions.Normal` per call cost more than the policy's own layers here.
    """

    def __init__(self, policy: nn.Module, obs: ObsBatch, noise: Tensor | None = None) -> None:
        params, self.value = policy(obs, noise)
        self.mask = policy.action_masks.index_select(0, obs.robot_ids)  # float 0/1
        self.discrete = policy.spec.discrete
        if self.discrete:
            self.dist = Categorical(logits=params.masked_fill(self.mask == 0, -1e9), validate_args=False)
        else:
            self.mean, self.log_std = params, policy.log_std(obs)
            self.std = self.log_std.exp()

    def sample(self) -> Tensor:
        if self.discrete:
            return self.dist.sample()
        return ((self.mean + self.std * torch.randn_like(self.mean)) * self.mask).detach()

    def mode(self) -> Tensor:
        return self.dist.probs.argmax(-1) if self.discrete else self.mean * self.mask

    def log_prob(self, action: Tensor) -> Tensor:
        if self.discrete:
            return self.dist.log_prob(action.long())
        z = (action - self.mean) / self.std
        return ((-0.5 * z * z - self.log_std - LOG_SQRT_2PI) * self.mask).sum(-1)

    def entropy(self) -> Tensor:
        if self.discrete:
            return self.dist.entropy()
        return ((self.log_std + (0.5 + LOG_SQRT_2PI)) * self.mask).sum(-1)
