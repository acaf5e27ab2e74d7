"""Learned routing inside the known decomposition: the modular policy's two stages, routers in place
of its fixed tables.

    task stage:  M modules, task observation → interface (width and noise of `--interface.*`)
    robot stage: M modules, (interface, robot observation) → action parameters

Each stage's router reads the pair's robot and task embeddings (and, per step, the stage's input),
exactly as in the generic layout, so the question is only whether the routers find the
decomposition the fixed `ModularPolicy` is given (task stage by task, robot stage by robot) and
recombine held-out pairs through it. The value comes from an unrouted critic on the observations
and one-hot ids: a value that saw the routing would cancel the routing's advantage. Each robot-stage
module has its own log std (`stage_log_std`, one row per module, chosen or weighted with it).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.common.contract import Replay
from agents.common.routing_config import RoutingConfig
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.interface import UNGROUNDED, InterfaceConfig
from agents.rl.policies import MASKS, interface_masks
from agents.routing.policy import RoutedPolicy
from modrl import MLP, ModuleBank, RoutedNetwork, Routing

TASK_HIDDEN = [64]
ROBOT_HIDDEN = [64, 64]


class TwoStageRoutedPolicy(RoutedPolicy):
    """A task stage and a robot stage of `--routing.modules` modules each, each with a learned router."""

    def __init__(self, spec: SuiteSpec, config: RoutingConfig | None = None, router: str = "flat",
                 trainer: str = "ppo", name: str = "routed-ppo", interface: InterfaceConfig | None = None) -> None:
        # unset fields: the generic settings; the stages always concatenate, ungrounded (the modular policy's settings)
        self.interface = replace((interface or InterfaceConfig()).resolve(None), coupling="concat",
                                 **UNGROUNDED)
        if self.interface.active and self.interface.mode == "consistency":
            raise ValueError("the two-stage routed layout takes interface mode update or replay, not consistency")
        super().__init__(spec, config, router, trainer, name)
        if self.hard and self.config.per == "step" and self.interface.active and self.interface.mode == "update":
            raise ValueError("two-stage routing per step reads the interface, which --interface.mode update noises only "
                             "in the update, so replayed choices would score otherwise: use --interface.mode replay or "
                             "--routing.per episode or pair")

    def _build(self) -> None:
        spec, width = self.spec, int(self.interface.width)
        modules = self.config.modules
        task_stage = ModuleBank("mlp", modules, in_features=spec.task_width, out_features=width,
                                hidden=TASK_HIDDEN, final_activation=True)
        robot_stage = ModuleBank("mlp", modules, in_features=width + spec.robot_width, out_features=spec.action_width,
                                 hidden=ROBOT_HIDDEN)
        self.trunk = RoutedNetwork([self._routed_layer(task_stage), self._routed_layer(robot_stage)],
                                   activation="identity")
        last = [n for n in robot_stage._names if n.endswith("weight")][-1]
        with torch.no_grad():  # CleanRL's small policy output: orthogonal gain 0.01 on the last layer
            robot_stage.params[robot_stage._names.index(last)].mul_(0.01 / 2 ** 0.5)
        self.critic = MLP(spec.robot_width + spec.task_width + len(spec.robots) + len(spec.tasks), 1,
                          hidden=ROBOT_HIDDEN)
        self.stage_log_std = nn.Parameter(torch.zeros(modules, spec.action_width), requires_grad=not spec.discrete)

    # -- what differs from the generic layout -----------------------------------------------

    def draw_interface(self, obs: ObsBatch) -> Replay:
        """Interface noise masks [B, width] to act with, in interface mode "replay" (else nothing)."""
        if self.interface.mode != "replay" or not self.interface.active:
            return {}
        return {MASKS: interface_masks(self.interface, (obs.robot.shape[0], int(self.interface.width)),
                                       self.action_masks.device)}

    def trunk_input(self, obs: ObsBatch) -> Tensor:
        return obs.task

    def between(self, i: int, h: Tensor, obs: ObsBatch, masks: Tensor | None) -> Tensor:
        """After the task stage: the interface, noised as `--interface.*` says, beside the robot observation."""
        if i != 0:
            return h
        if masks is not None:
            h = h * masks
        elif self.interface.mode == "update" and self.training and self.interface.active:
            h = h * interface_masks(self.interface, tuple(h.shape), h.device)
        return torch.cat([h, obs.robot], -1)

    def outputs(self, h: Tensor, obs: ObsBatch, routings: list[Routing]) -> tuple[Tensor, Tensor, Tensor | None]:
        value = self.critic(torch.cat([obs.robot, obs.task, F.one_hot(obs.robot_ids, len(self.spec.robots)).float(),
                                       F.one_hot(obs.task_ids, len(self.spec.tasks)).float()], -1)).squeeze(-1)
        if self.spec.discrete:
            return h, value, None
        return h, value, routings[-1].dense_weights(self.config.modules) @ self.stage_log_std

    def banks(self) -> dict[str, tuple[ModuleBank, tuple[str, ...]]]:
        """None by robot or task: every module is chosen by a router (`routed_banks` has them by stage)."""
        return {}

    def routed_banks(self) -> dict[str, tuple[ModuleBank, tuple[str, ...]]]:
        """"layer0" (the task stage) and "layer1" (the robot stage), modules "module0" …"""
        names = tuple(f"module{j}" for j in range(self.config.modules))
        return {f"layer{i}": (layer.bank, names) for i, layer in enumerate(self.trunk.layers)}

    def describe(self) -> dict:
        active = self.interface.active
        return super().describe() | {"interface_dim": int(self.interface.width), "interface_dropout": self.interface.dropout,
                                     "dropout_mode": self.interface.mode if active else None,
                                     "interface_noise": self.interface.noise if active else None}
