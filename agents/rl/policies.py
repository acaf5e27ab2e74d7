"""Actor-critic policies over every (robot, task) pair of a suite, registered by name.

`ModularPolicy` is the core's fixed routing with sequential aggregation
(Devin et al., 2017): action = robot_module[r](task_module[t](task_obs), robot_obs),
two `RoutedLayer`s whose `FixedRouter`s read the task id and the robot id.
`MonolithicPolicy` is the baseline: one network for all pairs.
Both follow the policy contract (`agents.common.contract`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.common.contract import APPLIED, EE_MOVE, MESSAGE, ActionDist, Replay
from agents.common.hold import EpisodeHold
from agents.common.registry import MethodRegistry
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.interface import InterfaceConfig
from modrl import ActorCriticModule, FixedRouter, HyperBank, ModuleBank, RoutedLayer, Sequential

POLICIES = MethodRegistry("policy", providers=("agents.routing",))
"""Policy families by name: `build(spec, cfg)` with `cfg` the experiment's settings (the routed
policies of `agents.routing` register on the first lookup)."""

ROLES = ("robot", "task")
TASK_HIDDEN = (64,)
ROBOT_HIDDEN = (64, 64)
MONOLITHIC_HIDDEN = (128, 128)
MASKS = "interface_masks"  # the replay key of interface dropout masks
AFFINE_MAPS = "affine_maps"  # the ActionDist extra of the affine coupling: the robot modules' [A | b]
DISTORTION = "partner_distortion"  # the replay key of the message's per-episode turn and gain [B, 2, 2]


def action_dist(policy: nn.Module, obs: ObsBatch, params: Tensor, value: Tensor, log_std: Tensor | None,
                choice_log_prob: Tensor | None = None, extras: dict[str, Tensor] | None = None) -> ActionDist:
    """The `ActionDist` of a policy's outputs on `obs`, masked to each row's robot."""
    mask = policy.action_masks.index_select(0, obs.robot_ids)
    return ActionDist(params, value, mask, policy.spec.discrete, log_std, choice_log_prob, extras)


def interface_masks(interface: InterfaceConfig, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Multiplicative interface noise of mean 1: Bernoulli dropout scaled by 1/(1−p), or Gaussian of the
    same variance p/(1−p) (`interface.noise`)."""
    p = float(interface.dropout)
    if interface.noise == "gaussian":
        return 1.0 + math.sqrt(p / (1.0 - p)) * torch.randn(shape, device=device)
    return torch.bernoulli(torch.full(shape, 1.0 - p, device=device)) / (1.0 - p)


def partner_distortion(interface: InterfaceConfig, rows: int, device: torch.device) -> Tensor:
    """[rows, 2, 2] maps g·R(θ), θ uniform in ±`interface.turn` degrees and g in [`interface.gain`, 1]:
    what a partner robot that tracks a requested move imperfectly does to it."""
    theta = math.radians(float(interface.turn)) * (2 * torch.rand(rows, device=device) - 1)
    gain = float(interface.gain) + (1.0 - float(interface.gain)) * torch.rand(rows, device=device)
    cos, sin = torch.cos(theta) * gain, torch.sin(theta) * gain
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def robot_coupling(robot_config: dict, spec: SuiteSpec) -> str:
    """The interface coupling a saved robot module was built for, read from its actor's output size."""
    width, actions = robot_config["actor_in"], spec.action_width
    couplings = {actions: "concat", actions * (width + 1): "affine"}
    if robot_config["actor_out"] not in couplings:
        raise ValueError(f"robot modules output {robot_config['actor_out']} numbers per row; a {width}-wide interface "
                         f"takes {actions} (concat coupling) or {actions * (width + 1)} (affine)")
    return couplings[robot_config["actor_out"]]


class ModularPolicy(nn.Module):
    """Task modules feed robot modules through a fixed-width interface (one for actor, one for critic).

    `interface` defaults to the generic settings (16 wide, no dropout); `scripts/train.py` resolves
    the suite's preset instead (`InterfaceConfig.resolve`).
    `hyper_banks`: roles ("robot", "task") whose modules a `HyperBank` generates from a shared base
    and one learned code per module (φᵢ = φ₀ + W αᵢ), so they learn from each other's pairs; they are
    still saved one file per module, as plain modules."""

    def __init__(self, spec: SuiteSpec, interface: InterfaceConfig | None = None,
                 task_hidden: tuple[int, ...] = TASK_HIDDEN, robot_hidden: tuple[int, ...] = ROBOT_HIDDEN,
                 hyper_banks: tuple[str, ...] = (), hyper_dim: int = 8) -> None:
        super().__init__()
        self.spec = spec
        self.interface = (interface or InterfaceConfig()).resolve(None)  # unset fields: the generic settings
        width = self.interface_dim = int(self.interface.width)
        unknown = set(hyper_banks) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown hyper_banks roles {sorted(unknown)}; valid: {list(ROLES)}")
        self.hyper_banks = tuple(hyper_banks)

        def bank(role: str, size: int, **config) -> ModuleBank:
            if role in self.hyper_banks:
                return HyperBank("actor_critic", size, embedding_dim=hyper_dim, **config)
            return ModuleBank("actor_critic", size, **config)

        task_bank = bank("task", len(spec.tasks), actor_in=0, critic_in=0, shared_in=spec.task_width,
                         actor_out=width, critic_out=width, hidden=list(task_hidden), final_activation=True)
        self.affine = self.interface.coupling == "affine"
        self.grounding = float(self.interface.grounding)
        wanted = [flag for flag, on in (("--interface.grounding", self.grounding),
                                         ("--interface.turn/gain", self.interface.distorts)) if on]
        if wanted and (not self.interface.groundable or spec.discrete):
            raise ValueError(f"{' and '.join(wanted)} need a message that can mean an end-effector move: "
                             "--interface.coupling affine, --interface.width 2 and an arms suite, got coupling "
                             f"{self.interface.coupling}, width {width}, {'discrete' if spec.discrete else 'continuous'} actions")
        self._distortion = EpisodeHold("the message's partner distortion")
        robot_bank = bank("robot", len(spec.robots), actor_in=width, critic_in=width,
                          shared_in=spec.robot_width, actor_out=spec.action_width * (width + 1 if self.affine else 1),
                          critic_out=1, hidden=list(robot_hidden), log_std=not spec.discrete,
                          **({"log_std_size": spec.action_width} if self.affine and not spec.discrete else {}))
        self.task_layer = RoutedLayer(task_bank, FixedRouter.one_per_task(len(spec.tasks)), Sequential())
        self.robot_layer = RoutedLayer(robot_bank, FixedRouter.one_per_task(len(spec.robots)), Sequential())
        self.register_buffer("action_masks", spec.action_masks().float(), persistent=False)

    # -- the policy contract -----------------------------------------------------------------

    def draw(self, obs: ObsBatch, starts: Tensor | None = None) -> Replay:
        """What the policy acts with besides the action: interface dropout masks [B, 2·width] in mode
        "replay", and, with `turn`/`gain`, each env copy's partner distortion, drawn where its episode
        starts and held to its end (`partner_distortion`).

        In mode "update" the policy acts with the full interface and dropout acts only in the
        update (in train mode); in mode "consistency" PPO sees the full interface only and dropout
        enters through `aux_losses`. docs/interface.md has what each mode measured."""
        replay = {}
        if self.interface.mode == "replay" and self.interface.active:
            replay[MASKS] = self._masks(obs.robot.shape[0])
        if self.interface.distorts:
            fresh = partner_distortion(self.interface, obs.robot.shape[0], self.action_masks.device)
            replay[DISTORTION] = self._distortion(fresh, starts)[0]
        return replay

    def distribution(self, obs: ObsBatch, replay: Replay) -> ActionDist:
        params, value, maps, message = self._outputs(obs, replay.get(MASKS), replay.get(DISTORTION))
        extras = {} if maps is None else {AFFINE_MAPS: maps} | ({MESSAGE: message} if self.interface.groundable else {})
        return action_dist(self, obs, params, value, None if self.spec.discrete else self.log_std(obs), extras=extras)

    def aux_losses(self, obs: ObsBatch, dist: ActionDist, replay: Replay,
                   advantages: Tensor | None = None) -> dict[str, Tensor]:
        """Mode "consistency": KL(π(full interface) ‖ π(dropped-out interface)), with `dist` the full
        policy on `obs` held fixed, so robot modules learn to act alike on partial interfaces while
        PPO's ratio stays exact.

        `grounding` > 0: the inverse-model loss (`grounding_loss`) on the steps PPO replays, on the
        maps `dist` was computed with (one forward pass of the robot modules serves both)."""
        losses = {}
        if self.grounding and EE_MOVE in replay:
            losses["grounding"] = self.grounding * self.grounding_loss(obs, replay, dist.extras[AFFINE_MAPS])
        if self.interface.mode != "consistency" or not self.interface.active or not self.training:
            return losses
        dropped = self._outputs(obs, self._masks(obs.robot.shape[0]), replay.get(DISTORTION))[0]
        if self.spec.discrete:
            full = dist.dist.logits.detach()  # already masked and normalised
            drop = dropped.masked_fill(dist.mask == 0, -1e9).log_softmax(-1)
            return losses | {"consistency": (full.exp() * (full - drop)).sum(-1).mean()}
        var = dist.std.detach() ** 2
        return losses | {"consistency": ((dropped - dist.mean.detach()) ** 2 / (2 * var) * dist.mask).sum(-1).mean()}

    @property
    def wants_ee_move(self) -> bool:
        """Whether PPO should replay each step's end-effector move and applied action (contract.EE_MOVE)."""
        return bool(self.grounding)

    def grounding_loss(self, obs: ObsBatch, replay: Replay, maps: Tensor | None = None) -> Tensor:
        """Mean squared error of each robot module's inverse model: A(obs)·move + b(obs) against the
        action it applied, summed over the robot's own joints. It trains robot modules only, so that a
        message means "move the end effector by m" for every robot alike, whoever it was trained with.
        `maps`: the robot modules' [A | b] on `obs` if already computed (they do not read the message)."""
        if maps is None:
            maps = self._outputs(obs)[2]
        predicted = (maps[..., :-1] @ replay[EE_MOVE].unsqueeze(-1)).squeeze(-1) + maps[..., -1]
        error = (predicted - replay[APPLIED]) ** 2 * self.action_masks.index_select(0, obs.robot_ids)
        return error.sum(-1).mean()

    def banks(self) -> dict[str, tuple[ModuleBank, tuple[str, ...]]]:
        """The module banks by role, with the names of their modules (for saving one file per module)."""
        return {"robot": (self.robot_layer.bank, self.spec.robots), "task": (self.task_layer.bank, self.spec.tasks)}

    # -- the network -------------------------------------------------------------------------

    def _masks(self, batch_size: int) -> Tensor:
        return interface_masks(self.interface, (batch_size, 2 * self.interface_dim), self.action_masks.device)

    def forward(self, obs: ObsBatch, masks: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(actor output [B, A], value [B]); `masks`, if given, replace dropout on the interface."""
        params, value, _, _ = self._outputs(obs, masks)
        return params, value

    def _outputs(self, obs: ObsBatch, masks: Tensor | None = None,
                 distortion: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """`forward`'s outputs and, under the affine coupling, the robot modules' maps [B, A, width + 1]
        and the message they map.

        Coupling "affine": the robot module's actor sees its observation only (its message input is
        zeros) and outputs a matrix and a bias per row; the action is their affine map of the message,
        turned and slowed first by `distortion` [B, 2, 2] if given."""
        interface, _ = self.task_layer(obs.task, obs.task_ids)
        if masks is not None:
            interface = interface * masks
        elif self.interface.mode == "update" and self.training and self.interface.active:
            interface = interface * self._masks(interface.shape[0])
        if not self.affine:
            out, _ = self.robot_layer(torch.cat([interface, obs.robot], -1), obs.robot_ids)
            return out[:, :-1], out[:, -1], None, None
        message, critic_message = interface[:, : self.interface_dim], interface[:, self.interface_dim :]
        if distortion is not None:
            message = (distortion @ message.unsqueeze(-1)).squeeze(-1)
        out, _ = self.robot_layer(torch.cat([torch.zeros_like(message), critic_message, obs.robot], -1), obs.robot_ids)
        maps = out[:, :-1].unflatten(-1, (self.spec.action_width, self.interface_dim + 1))
        return (maps[..., :-1] @ message.unsqueeze(-1)).squeeze(-1) + maps[..., -1], out[:, -1], maps, message

    def log_std(self, obs: ObsBatch) -> Tensor:
        return self.robot_layer.bank.stacked()["log_std"].index_select(0, obs.robot_ids)

    def describe(self) -> dict[str, Any]:
        """The settings a result record carries, so runs of other settings are never pooled."""
        active = self.interface.active
        return {"interface_dim": self.interface_dim, "interface_dropout": self.interface.dropout,
                "hyper_banks": list(self.hyper_banks), "dropout_mode": self.interface.mode if active else None,
                "interface_noise": self.interface.noise if active else None} | (
                    {"interface_coupling": "affine"} if self.affine else {}) | (
                    {"interface_grounding": self.grounding} if self.grounding else {}) | (
                    {"interface_turn": float(self.interface.turn), "interface_gain": float(self.interface.gain)}
                    if self.interface.distorts else {})


class MonolithicPolicy(nn.Module):
    """One network for all pairs: input = padded robot and task observations + one-hot robot and task ids."""

    def __init__(self, spec: SuiteSpec, hidden: tuple[int, ...] = MONOLITHIC_HIDDEN) -> None:
        super().__init__()
        self.spec = spec
        width = spec.robot_width + spec.task_width + len(spec.robots) + len(spec.tasks)
        self.hidden = tuple(hidden)
        self.net = ActorCriticModule(0, 0, width, spec.action_width, 1, hidden=list(hidden), log_std=not spec.discrete)
        self.register_buffer("action_masks", spec.action_masks().float(), persistent=False)

    def draw(self, obs: ObsBatch, starts: Tensor | None = None) -> Replay:
        return {}

    def distribution(self, obs: ObsBatch, replay: Replay) -> ActionDist:
        params, value = self(obs)
        log_std = None if self.spec.discrete else self.net.log_std.expand(obs.robot_ids.shape[0], -1)
        return action_dist(self, obs, params, value, log_std)

    def aux_losses(self, obs: ObsBatch, dist: ActionDist, replay: Replay,
                   advantages: Tensor | None = None) -> dict[str, Tensor]:
        return {}

    def banks(self) -> dict:
        return {}

    def forward(self, obs: ObsBatch) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs.robot, obs.task, F.one_hot(obs.robot_ids, len(self.spec.robots)).float(),
                       F.one_hot(obs.task_ids, len(self.spec.tasks)).float()], -1)
        out = self.net(x)
        return out[:, :-1], out[:, -1]

    def describe(self) -> dict[str, Any]:
        """The hidden sizes when they are not the default (records of other sizes are never pooled)."""
        return {} if self.hidden == MONOLITHIC_HIDDEN else {"monolithic_hidden": list(self.hidden)}


HYPER_PRESETS = {"arms6": ("task",)}
"""Roles whose modules a suite's modular policy generates from a shared base by default: on arms6 task
modules that share a base recombine with robots they never met (docs/results/sweep.md)."""


def hyper_preset(suite: str) -> tuple[str, ...]:
    """The roles of `suite`'s preset whose modules come from a `HyperBank` (none for most suites)."""
    return HYPER_PRESETS.get(suite, ())


@POLICIES.register("modular")
def modular(spec: SuiteSpec, cfg: Any) -> ModularPolicy:
    """Robot and task modules, fixed routing by robot and task id."""
    return ModularPolicy(spec, cfg.interface, hyper_banks=tuple(getattr(cfg, "hyper_banks", None) or ()))


@POLICIES.register("monolithic")
def monolithic(spec: SuiteSpec, cfg: Any) -> MonolithicPolicy:
    """One network for every pair (the baseline), of hidden sizes `cfg.monolithic_hidden` (128, 128 unset)."""
    return MonolithicPolicy(spec, tuple(getattr(cfg, "monolithic_hidden", None) or MONOLITHIC_HIDDEN))
